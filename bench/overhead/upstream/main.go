// Fast model-server stand-in for bench:overhead. One process listens on
// several ports (one per pool member); each answers any POST with a small
// chat-completion JSON after reading the whole body, and GET /metrics with a
// page shaped like a vLLM V1 server's (the gauges the picker reads among the
// counter and histogram families vLLM documents, so the page is real size).
// GET /_bench/counts returns the requests and scrapes each port served;
// POST /_bench/reset zeroes them. Prints one JSON line with the ports.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
)

type member struct {
	port     int
	requests atomic.Int64
	scrapes  atomic.Int64
	inFlight atomic.Int64
	bad      atomic.Int64 // bodies that were not valid JSON (a corrupted request)
}

const reply = `{"id":"chatcmpl-bench","object":"chat.completion","model":"bench","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`

func main() {
	n := flag.Int("n", 4, "pool members (ports)")
	model := flag.String("model", "meta-llama/Llama-3.1-8B-Instruct", "model_name label of the metrics page")
	flag.Parse()
	members := make([]*member, *n)
	ports := make([]int, *n)
	for i := range members {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		m := &member{port: ln.Addr().(*net.TCPAddr).Port}
		members[i] = m
		ports[i] = m.port
		go serve(ln, m, members, *model)
	}
	out, _ := json.Marshal(map[string]any{"ports": ports, "metricsBytes": len(metricsPage(*model, 0, 0))})
	fmt.Println(string(out))
	select {}
}

func serve(ln net.Listener, m *member, all []*member, model string) {
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		m.scrapes.Add(1)
		page := metricsPage(model, m.inFlight.Load(), m.port)
		w.Header().Set("content-type", "text/plain; version=0.0.4; charset=utf-8")
		w.Header().Set("content-length", strconv.Itoa(len(page)))
		io.WriteString(w, page)
	})
	mux.HandleFunc("/_bench/counts", func(w http.ResponseWriter, r *http.Request) {
		counts := map[string]map[string]int64{}
		for _, x := range all {
			counts[strconv.Itoa(x.port)] = map[string]int64{"requests": x.requests.Load(), "scrapes": x.scrapes.Load(), "badBodies": x.bad.Load()}
		}
		json.NewEncoder(w).Encode(counts)
	})
	mux.HandleFunc("/_bench/reset", func(w http.ResponseWriter, r *http.Request) {
		for _, x := range all {
			x.requests.Store(0)
			x.scrapes.Store(0)
			x.bad.Store(0)
		}
		w.WriteHeader(204)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		m.inFlight.Add(1)
		defer m.inFlight.Add(-1)
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(400)
			return
		}
		m.requests.Add(1)
		// A body that changed while in flight would no longer be the JSON the
		// client built: one cheap check keeps the load generator honest.
		if len(body) > 0 && (body[0] != '{' || body[len(body)-1] != '}' || !json.Valid(body)) {
			m.bad.Add(1)
		}
		w.Header().Set("content-type", "application/json")
		w.Header().Set("content-length", strconv.Itoa(len(reply)))
		io.WriteString(w, reply)
	})
	(&http.Server{Handler: mux}).Serve(ln)
}

// Bucket bounds as vLLM V1 declares them (vllm/v1/metrics/loggers.py).
var (
	ttftBuckets     = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0}
	itlBuckets      = []float64{0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0}
	latencyBuckets  = []float64{0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0}
	tokenBuckets    = []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 131072}
	iterationTokens = []float64{1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384}
	paramsN         = []float64{1, 2, 5, 10, 20}
)

type page struct {
	b      strings.Builder
	labels string
}

func (p *page) family(name, kind, help string) {
	fmt.Fprintf(&p.b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, kind)
}

func (p *page) sample(name, extra string, v float64) {
	labels := p.labels
	if extra != "" {
		labels = extra + "," + labels
	}
	fmt.Fprintf(&p.b, "%s{%s} %s\n", name, labels, strconv.FormatFloat(v, 'f', -1, 64))
}

func (p *page) histogram(name, help string, bounds []float64, count float64) {
	p.family(name, "histogram", help)
	for i, le := range bounds {
		// A plausible cumulative shape: most observations in the middle buckets.
		frac := float64(i+1) / float64(len(bounds))
		p.sample(name+"_bucket", fmt.Sprintf(`le="%s"`, strconv.FormatFloat(le, 'f', 1, 64)), float64(int64(count*frac*frac)))
	}
	p.sample(name+"_bucket", `le="+Inf"`, count)
	p.sample(name+"_count", "", count)
	p.sample(name+"_sum", "", count*0.731)
	p.family(name+"_created", "gauge", help)
	p.sample(name+"_created", "", 1.7e9)
}

func (p *page) counter(name, help string, v float64) {
	p.family(name, "counter", help)
	p.sample(name+"_total", "", v)
	p.sample(name+"_created", "", 1.7e9)
}

// metricsPage renders the page; the running gauge is the member's real
// in-flight count, so a busy server looks busy.
func metricsPage(model string, running int64, port int) string {
	p := &page{labels: fmt.Sprintf(`engine="0",model_name="%s"`, model)}
	b := &p.b
	// prometheus_client's default process and GC collectors come first on a vLLM page.
	for _, gen := range []string{"0", "1", "2"} {
		fmt.Fprintf(b, "# HELP python_gc_objects_collected_total Objects collected during gc\n# TYPE python_gc_objects_collected_total counter\npython_gc_objects_collected_total{generation=\"%s\"} 12345.0\n", gen)
	}
	fmt.Fprintf(b, "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n# TYPE process_virtual_memory_bytes gauge\nprocess_virtual_memory_bytes 4.5e+10\n")
	fmt.Fprintf(b, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 3.2e+09\n")
	fmt.Fprintf(b, "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 1234.56\n")
	p.family("vllm:num_requests_running", "gauge", "Number of requests in model execution batches.")
	p.sample("vllm:num_requests_running", "", float64(running))
	p.family("vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.")
	p.sample("vllm:num_requests_waiting", "", 0)
	p.family("vllm:lora_requests_info", "gauge", "Running stats on lora requests.")
	fmt.Fprintf(b, "vllm:lora_requests_info{max_lora=\"4\",running_lora_adapters=\"\",waiting_lora_adapters=\"\"} 1.7e9\n")
	p.family("vllm:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage.")
	p.sample("vllm:kv_cache_usage_perc", "", 0.1+float64(port%7)/100)
	p.family("vllm:cache_config_info", "gauge", "Information of the LLMEngine CacheConfig")
	fmt.Fprintf(b, "vllm:cache_config_info{block_size=\"16\",cache_dtype=\"auto\",enable_prefix_caching=\"True\",gpu_memory_utilization=\"0.9\",num_gpu_blocks=\"27000\",num_cpu_blocks=\"None\",swap_space=\"4\"} 1.0\n")
	p.counter("vllm:num_preemptions", "Cumulative number of preemption from the engine.", 3)
	p.counter("vllm:prompt_tokens", "Number of prefill tokens processed.", 8.1e7)
	p.counter("vllm:generation_tokens", "Number of generation tokens processed.", 9.4e6)
	p.counter("vllm:prefix_cache_queries", "Prefix cache queries, in terms of number of queried tokens.", 8.1e7)
	p.counter("vllm:prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens.", 6.2e7)
	p.family("vllm:request_success_total", "counter", "Count of successfully processed requests.")
	for _, reason := range []string{"stop", "length", "abort", "error"} {
		p.sample("vllm:request_success_total", `finished_reason="`+reason+`"`, 1000)
	}
	p.histogram("vllm:request_prompt_tokens", "Number of prefill tokens processed.", tokenBuckets, 52000)
	p.histogram("vllm:request_generation_tokens", "Number of generation tokens processed.", tokenBuckets, 52000)
	p.histogram("vllm:iteration_tokens_total", "Histogram of number of tokens per engine_step.", iterationTokens, 910000)
	p.histogram("vllm:request_max_num_generation_tokens", "Histogram of maximum number of requested generation tokens.", tokenBuckets, 52000)
	p.histogram("vllm:request_params_n", "Histogram of the n request parameter.", paramsN, 52000)
	p.histogram("vllm:request_params_max_tokens", "Histogram of the max_tokens request parameter.", tokenBuckets, 52000)
	p.histogram("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", ttftBuckets, 52000)
	p.histogram("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", itlBuckets, 9.4e6)
	p.histogram("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", latencyBuckets, 52000)
	p.histogram("vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.", latencyBuckets, 52000)
	p.histogram("vllm:request_inference_time_seconds", "Histogram of time spent in RUNNING phase for request.", latencyBuckets, 52000)
	p.histogram("vllm:request_prefill_time_seconds", "Histogram of time spent in PREFILL phase for request.", latencyBuckets, 52000)
	p.histogram("vllm:request_decode_time_seconds", "Histogram of time spent in DECODE phase for request.", latencyBuckets, 52000)
	return b.String()
}
