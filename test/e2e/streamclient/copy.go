package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"time"

	"k8s.io/client-go/tools/remotecommand"
)

// countWriter counts what goes through it and keeps nothing.
type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

func report(n int64, d time.Duration) {
	fmt.Printf("bytes %d seconds %.3f MiBps %.1f\n", n, d.Seconds(), float64(n)/(1<<20)/d.Seconds())
}

// copyExec: n bytes from an exec'd process's stdout to this client, timed
// from the Exec RPC to the stream's end.
func copyExec(e *env, transport string, n int64) error {
	var t execTransport
	for _, c := range execTransports {
		if c.name == transport {
			t = c
		}
	}
	if t.build == nil {
		return fmt.Errorf("unknown transport %q", transport)
	}
	start := time.Now()
	ex, err := t.build(func() (*url.URL, error) {
		return e.cri.execURL(e.ctr, []string{"head", "-c", strconv.FormatInt(n, 10), "/dev/zero"}, false, false)
	})
	if err != nil {
		return err
	}
	ctx, cancel := e.ctx()
	defer cancel()
	var out countWriter
	var errb bytes.Buffer
	if err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Stderr: &errb}); err != nil {
		return fmt.Errorf("exec stream: %v (stderr %q)", err, errb.String())
	}
	d := time.Since(start)
	if out.n != n {
		return fmt.Errorf("got %d bytes, want %d", out.n, n)
	}
	report(n, d)
	return nil
}

// copyPortForward: n bytes from the pod's generator port through a SPDY
// port-forward (kubectl's fallback path, which is SPDY on a runtime without
// the WebSocket tunnel), timed from the PortForward RPC to the last byte.
func copyPortForward(e *env, n int64) error {
	start := time.Now()
	f, err := e.forward(pfDialers[0], genPort)
	if err != nil {
		return err
	}
	defer f.stop()
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(f.local[genPort])))
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(e.timeout))
	if _, err := fmt.Fprintf(c, "%d\n", n); err != nil {
		return err
	}
	got, err := io.Copy(io.Discard, c)
	d := time.Since(start)
	if err != nil {
		return fmt.Errorf("after %d bytes: %v", got, err)
	}
	if got != n {
		return fmt.Errorf("got %d bytes, want %d", got, n)
	}
	report(n, d)
	return nil
}
