package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	streamhttp "k8s.io/streaming/pkg/httpstream"
)

// pfDialer builds a port-forward dialer the way one kubectl configuration
// does; urls hands out a fresh session URL per call.
type pfDialer struct {
	name  string
	build func(urls func() (*url.URL, error)) (streamhttp.Dialer, error)
}

func spdyDialer(u *url.URL) (streamhttp.Dialer, error) {
	transport, upgrader, err := spdy.RoundTripperFor(restConfig())
	if err != nil {
		return nil, err
	}
	return spdy.NewDialerForStreaming(upgrader, &http.Client{Transport: transport}, "POST", u), nil
}

var pfDialers = []pfDialer{
	{"spdy", func(urls func() (*url.URL, error)) (streamhttp.Dialer, error) {
		u, err := urls()
		if err != nil {
			return nil, err
		}
		return spdyDialer(u)
	}},
	// kubectl 1.31+: SPDY framed inside a WebSocket ("SPDY/3.1+portforward.k8s.io").
	{"ws-tunnel", func(urls func() (*url.URL, error)) (streamhttp.Dialer, error) {
		u, err := urls()
		if err != nil {
			return nil, err
		}
		return portforward.NewSPDYOverWebsocketDialerForStreaming(u, restConfig())
	}},
	// What kubectl port-forward builds by default: the tunnel first, plain
	// SPDY when the upgrade is refused.
	{"fallback", func(urls func() (*url.URL, error)) (streamhttp.Dialer, error) {
		u1, err := urls()
		if err != nil {
			return nil, err
		}
		u2, err := urls()
		if err != nil {
			return nil, err
		}
		tunnel, err := portforward.NewSPDYOverWebsocketDialerForStreaming(u1, restConfig())
		if err != nil {
			return nil, err
		}
		sp, err := spdyDialer(u2)
		if err != nil {
			return nil, err
		}
		return portforward.NewFallbackDialerForStreaming(tunnel, sp, shouldFallback), nil
	}},
}

// forwarder: a running client-go PortForwarder listening on 127.0.0.1.
type forwarder struct {
	local  map[int]int // remote port -> local port
	cancel func()
	done   chan error
}

func (e *env) forward(d pfDialer, remote ...int) (*forwarder, error) {
	if e.pod == "" {
		return nil, errors.New("no -pod given")
	}
	ports32 := make([]int32, len(remote))
	specs := make([]string, len(remote))
	for i, p := range remote {
		ports32[i] = int32(p)
		specs[i] = fmt.Sprintf("0:%d", p) // any free local port
	}
	dialer, err := d.build(func() (*url.URL, error) { return e.cri.portForwardURL(e.pod, ports32...) })
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	var logs bytes.Buffer
	pf, err := portforward.NewOnAddressesForStreamingWithContext(ctx, dialer, []string{"127.0.0.1"}, specs, ready, io.Discard, &logs)
	if err != nil {
		cancel()
		return nil, err
	}
	f := &forwarder{local: map[int]int{}, cancel: cancel, done: make(chan error, 1)}
	go func() { f.done <- pf.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-f.done:
		cancel()
		return nil, fmt.Errorf("port-forward ended before it was ready: %v", err)
	case <-time.After(e.timeout):
		cancel()
		return nil, errors.New("port-forward not ready by the deadline")
	}
	got, err := pf.GetPorts()
	if err != nil {
		cancel()
		return nil, err
	}
	for _, p := range got {
		f.local[int(p.Remote)] = int(p.Local)
	}
	return f, nil
}

// stop: the client closes the forwarder; ForwardPorts must return cleanly.
func (f *forwarder) stop() error {
	f.cancel()
	select {
	case err := <-f.done:
		return err
	case <-time.After(10 * time.Second):
		return errors.New("ForwardPorts did not return after stop")
	}
}

// Two ports at once, several HTTP requests and echo connections in
// parallel on one forwarding session.
func checkPortForward(e *env, d pfDialer) error {
	f, err := e.forward(d, httpPort, echoPort)
	if err != nil {
		return err
	}
	terr := trafficCheck(e, func(port int) (podConn, error) {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(f.local[port])), 5*time.Second)
		if err != nil {
			return nil, err
		}
		return c, nil
	})
	serr := f.stop()
	if terr != nil {
		return terr
	}
	if serr != nil && !errors.Is(serr, portforward.ErrLostConnectionToPod) {
		return fmt.Errorf("ForwardPorts: %v", serr)
	}
	return nil
}

// podConn: a connection to a pod port, whatever carries it.
type podConn interface {
	io.ReadWriteCloser
	SetDeadline(time.Time) error
}

// trafficCheck runs 4 HTTP requests and 8 echo connections of 256 KiB
// each at once through connections that `dial` opens to a pod port. The
// echo connections are opened one after another (each is up once a byte
// came back) and then all carry their data at once: busybox nc accepts
// with a listen backlog of one, so simultaneous connects would overflow
// its queue (SYNs retried after 1 s, or resets) whatever the runtime does.
func trafficCheck(e *env, dial func(port int) (podConn, error)) error {
	const nHTTP, nEcho, echoBytes = 4, 8, 256 << 10
	var conns []podConn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < nEcho; i++ {
		c, err := dial(echoPort)
		if err != nil {
			return fmt.Errorf("echo: connect: %v", err)
		}
		conns = append(conns, c)
		_ = c.SetDeadline(time.Now().Add(e.timeout))
		b := []byte{'x'}
		if _, err := c.Write(b); err != nil {
			return fmt.Errorf("echo: first byte: %v", err)
		}
		if _, err := io.ReadFull(c, b); err != nil || b[0] != 'x' {
			return fmt.Errorf("echo: first byte back: %q %v", b, err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, nHTTP+nEcho)
	for i := 0; i < nHTTP; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- httpGet(e, dial)
		}()
	}
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- echoOnce(e, c, echoBytes)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func httpGet(e *env, dial func(port int) (podConn, error)) error {
	c, err := dial(httpPort)
	if err != nil {
		return fmt.Errorf("http: connect: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(e.timeout))
	if _, err := io.WriteString(c, "GET /index.html HTTP/1.0\r\nHost: pod\r\n\r\n"); err != nil {
		return fmt.Errorf("http: request: %v", err)
	}
	resp, err := io.ReadAll(c) // HTTP/1.0: the server closes after the answer
	if err != nil {
		return fmt.Errorf("http: read: %v (got %q)", err, resp)
	}
	i := bytes.Index(resp, []byte("\r\n\r\n"))
	if !bytes.HasPrefix(resp, []byte("HTTP/1.")) || i < 0 || !bytes.Contains(resp[:i], []byte(" 200 ")) || string(resp[i+4:]) != httpBody {
		return fmt.Errorf("http: answer %q, want 200 with body %q", resp, httpBody)
	}
	return nil
}

func echoOnce(e *env, c podConn, n int) error {
	_ = c.SetDeadline(time.Now().Add(e.timeout))
	payload := make([]byte, n)
	if _, err := rand.Read(payload); err != nil {
		return err
	}
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(payload)
		werr <- err
	}()
	back := make([]byte, n)
	if got, err := io.ReadFull(c, back); err != nil {
		return fmt.Errorf("echo: read back %d of %d bytes: %v", got, n, err)
	}
	if err := <-werr; err != nil {
		return fmt.Errorf("echo: write: %v", err)
	}
	if !bytes.Equal(back, payload) {
		return fmt.Errorf("echo: %d bytes came back different (equal prefix %d)", n, commonPrefix(back, payload))
	}
	return nil
}
