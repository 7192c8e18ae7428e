/**
 * What the /metrics parser reports for a page that says nothing about a
 * signal: every signal unknown. Tests spread it and write out what a page
 * does set.
 */
export const UNKNOWN_SIGNALS = {
  waiting: null,
  running: null,
  kvCacheUsage: null,
  maxLoras: null,
  blockSize: null,
  numGpuBlocks: null,
  runningLoras: null,
  waitingLoras: null,
};

/**
 * The committed real-size vLLM V1 page (test/fixtures/metrics/vllm-v1.txt,
 * also bench:overhead's upstream page) and what the parser reads from it:
 * its gauges and token counters among 13 histograms, counters and process
 * metrics, every other line skipped unparsed.
 */
export const VLLM_V1_FIXTURE = "test/fixtures/metrics/vllm-v1.txt";
export const VLLM_V1_FIXTURE_VALUES = {
  waiting: 0,
  running: 0,
  kvCacheUsage: 0.13,
  runningLoras: [],
  waitingLoras: [],
  maxLoras: 4,
  blockSize: 16,
  numGpuBlocks: 27000,
  promptTokens: 81000000,
  prefixQueries: 81000000,
  prefixHits: 62000000,
  generationTokens: 9400000,
  samples: 9,
  rejectedLines: 0,
};
