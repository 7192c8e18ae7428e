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
