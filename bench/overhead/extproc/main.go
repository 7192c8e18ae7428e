// Minimal ext_proc picker for bench:overhead: the lower bound of what any
// external-processor endpoint picker costs. It unmarshals the request body
// into map[string]any (as a Go picker must, to read the model and prompt),
// picks the next endpoint round robin, and sets x-gateway-destination-endpoint.
//
// Two listeners, one per Envoy processing mode:
//   - buffered: Envoy sends the headers (answered at once) and then the whole
//     body; the header is set in the body response.
//   - full duplex (FULL_DUPLEX_STREAMED, the mode the Gateway API inference
//     extension's EPP uses): body chunks stream in, the headers response is
//     held until the end of the body, then the body is streamed back.
//
// Prints one JSON line with both ports.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extproc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
)

const destinationHeader = "x-gateway-destination-endpoint"

type picker struct {
	endpoints  []string
	next       atomic.Uint64
	fullDuplex bool
	failures   atomic.Int64
}

func (p *picker) pick(body []byte) string {
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		p.failures.Add(1)
	}
	return p.endpoints[p.next.Add(1)%uint64(len(p.endpoints))]
}

func setHeaders(kv ...string) *extproc.HeaderMutation {
	m := &extproc.HeaderMutation{}
	for i := 0; i+1 < len(kv); i += 2 {
		m.SetHeaders = append(m.SetHeaders, &core.HeaderValueOption{
			Header:       &core.HeaderValue{Key: kv[i], RawValue: []byte(kv[i+1])},
			AppendAction: core.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
		})
	}
	return m
}

func (p *picker) Process(stream extproc.ExternalProcessor_ProcessServer) error {
	var body []byte
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch r := req.Request.(type) {
		case *extproc.ProcessingRequest_RequestHeaders:
			if r.RequestHeaders.EndOfStream {
				// No body: nothing to parse, route round robin.
				resp := &extproc.ProcessingResponse{Response: &extproc.ProcessingResponse_RequestHeaders{RequestHeaders: &extproc.HeadersResponse{
					Response: &extproc.CommonResponse{HeaderMutation: setHeaders(destinationHeader, p.pick(nil))}}}}
				if err := stream.Send(resp); err != nil {
					return err
				}
				continue
			}
			if !p.fullDuplex {
				if err := stream.Send(&extproc.ProcessingResponse{Response: &extproc.ProcessingResponse_RequestHeaders{RequestHeaders: &extproc.HeadersResponse{}}}); err != nil {
					return err
				}
			}
		case *extproc.ProcessingRequest_RequestBody:
			body = append(body, r.RequestBody.Body...)
			if !r.RequestBody.EndOfStream {
				continue
			}
			endpoint := p.pick(body)
			if !p.fullDuplex {
				resp := &extproc.ProcessingResponse{Response: &extproc.ProcessingResponse_RequestBody{RequestBody: &extproc.BodyResponse{
					Response: &extproc.CommonResponse{HeaderMutation: setHeaders(destinationHeader, endpoint)}}}}
				if err := stream.Send(resp); err != nil {
					return err
				}
				body = body[:0]
				continue
			}
			// Full duplex: the held headers (Envoy drops content-length for a
			// streamed body; put it back), then the body in one chunk.
			headers := &extproc.ProcessingResponse{Response: &extproc.ProcessingResponse_RequestHeaders{RequestHeaders: &extproc.HeadersResponse{
				Response: &extproc.CommonResponse{HeaderMutation: setHeaders(destinationHeader, endpoint, "content-length", strconv.Itoa(len(body)))}}}}
			if err := stream.Send(headers); err != nil {
				return err
			}
			bodyResp := &extproc.ProcessingResponse{Response: &extproc.ProcessingResponse_RequestBody{RequestBody: &extproc.BodyResponse{
				Response: &extproc.CommonResponse{BodyMutation: &extproc.BodyMutation{Mutation: &extproc.BodyMutation_StreamedResponse{
					StreamedResponse: &extproc.StreamedBodyResponse{Body: body, EndOfStream: true}}}}}}}
			if err := stream.Send(bodyResp); err != nil {
				return err
			}
			body = nil
		case *extproc.ProcessingRequest_RequestTrailers:
			if err := stream.Send(&extproc.ProcessingResponse{Response: &extproc.ProcessingResponse_RequestTrailers{RequestTrailers: &extproc.TrailersResponse{}}}); err != nil {
				return err
			}
		default:
			// Response phases are SKIP in the bench configs; answer anything else with an empty continue.
			if err := stream.Send(&extproc.ProcessingResponse{}); err != nil {
				return err
			}
		}
	}
}

func listen(p *picker) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s := grpc.NewServer()
	extproc.RegisterExternalProcessorServer(s, p)
	go s.Serve(ln)
	return ln.Addr().(*net.TCPAddr).Port
}

func main() {
	endpoints := flag.String("endpoints", "", "comma-separated ip:port pool members")
	flag.Parse()
	list := strings.Split(*endpoints, ",")
	if *endpoints == "" || len(list) == 0 {
		fmt.Fprintln(os.Stderr, "-endpoints is required")
		os.Exit(2)
	}
	buffered := listen(&picker{endpoints: list})
	duplex := listen(&picker{endpoints: list, fullDuplex: true})
	out, _ := json.Marshal(map[string]int{"bufferedPort": buffered, "fullDuplexPort": duplex})
	fmt.Println(string(out))
	select {}
}
