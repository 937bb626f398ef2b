package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/util/exec"
	streamhttp "k8s.io/streaming/pkg/httpstream"
)

// execTransport builds an executor the way one kubectl configuration does.
// urls hands out a fresh session URL per call.
type execTransport struct {
	name     string
	stdinEOF bool // the protocol can tell the server that stdin ended
	build    func(urls func() (*url.URL, error)) (remotecommand.Executor, error)
}

// restConfig: the streaming URLs are plain HTTP on the node (kubelet
// proxies to them); no credentials or TLS are involved.
func restConfig() *rest.Config { return &rest.Config{} }

func spdyExecutor(u *url.URL) (remotecommand.Executor, error) {
	return remotecommand.NewSPDYExecutor(restConfig(), "POST", u)
}

// shouldFallback is kubectl's rule for dropping from WebSocket to SPDY
// (k8s.io/kubectl/pkg/cmd/exec and cmd/portforward).
func shouldFallback(err error) bool {
	return streamhttp.IsUpgradeFailure(err) || streamhttp.IsHTTPSProxyError(err)
}

var execTransports = []execTransport{
	{"spdy", true, func(urls func() (*url.URL, error)) (remotecommand.Executor, error) {
		u, err := urls()
		if err != nil {
			return nil, err
		}
		return spdyExecutor(u)
	}},
	// kubectl's WebSocket executor: v5.channel.k8s.io only (stdin close signal).
	{"ws", true, func(urls func() (*url.URL, error)) (remotecommand.Executor, error) {
		u, err := urls()
		if err != nil {
			return nil, err
		}
		return remotecommand.NewWebSocketExecutor(restConfig(), "GET", u.String())
	}},
	// v4.channel.k8s.io over WebSocket, as API servers before 1.30 spoke it.
	{"ws-v4", false, func(urls func() (*url.URL, error)) (remotecommand.Executor, error) {
		u, err := urls()
		if err != nil {
			return nil, err
		}
		return remotecommand.NewWebSocketExecutorForProtocols(restConfig(), "GET", u.String(), "v4.channel.k8s.io")
	}},
	// What kubectl exec and attach build by default: WebSocket first, SPDY
	// when the upgrade is refused.
	{"fallback", true, func(urls func() (*url.URL, error)) (remotecommand.Executor, error) {
		u1, err := urls()
		if err != nil {
			return nil, err
		}
		u2, err := urls()
		if err != nil {
			return nil, err
		}
		ws, err := remotecommand.NewWebSocketExecutor(restConfig(), "GET", u1.String())
		if err != nil {
			return nil, err
		}
		sp, err := spdyExecutor(u2)
		if err != nil {
			return nil, err
		}
		return remotecommand.NewFallbackExecutor(ws, sp, shouldFallback)
	}},
}

func (e *env) needCtr() error {
	if e.ctr == "" {
		return errors.New("no -container given")
	}
	return nil
}

func (e *env) execTo(t execTransport, cmd []string, tty, stdin bool) (remotecommand.Executor, error) {
	if err := e.needCtr(); err != nil {
		return nil, err
	}
	return t.build(func() (*url.URL, error) { return e.cri.execURL(e.ctr, cmd, tty, stdin) })
}

// exitCode: the exit status carried by a stream error, as kubectl reads it.
func exitCode(err error) (int, error) {
	if err == nil {
		return 0, nil
	}
	var ce exec.CodeExitError
	if errors.As(err, &ce) {
		return ce.Code, nil
	}
	return -1, fmt.Errorf("stream error is not an exec.CodeExitError: %T %v", err, err)
}

func wantExit(err error, want int) error {
	code, cerr := exitCode(err)
	if cerr != nil {
		return cerr
	}
	if code != want {
		return fmt.Errorf("exit code %d, want %d", code, want)
	}
	return nil
}

func (e *env) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), e.timeout)
}

// stdin, stdout and stderr are separate streams; the exit status comes
// back as exec.CodeExitError.
func checkExecStdio(e *env, t execTransport) error {
	ex, err := e.execTo(t, []string{"sh", "-c", `read -r l; echo "out:$l"; echo "err:$l" >&2; exit 3`}, false, true)
	if err != nil {
		return err
	}
	ctx, cancel := e.ctx()
	defer cancel()
	var out, errb bytes.Buffer
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: strings.NewReader("hello\n"), Stdout: &out, Stderr: &errb})
	if err := wantExit(err, 3); err != nil {
		return err
	}
	if out.String() != "out:hello\n" || errb.String() != "err:hello\n" {
		return fmt.Errorf("stdout %q stderr %q, want \"out:hello\\n\" and \"err:hello\\n\"", out.String(), errb.String())
	}
	return nil
}

func checkExecExit0(e *env, t execTransport) error {
	ex, err := e.execTo(t, []string{"true"}, false, false)
	if err != nil {
		return err
	}
	ctx, cancel := e.ctx()
	defer cancel()
	var out, errb bytes.Buffer
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Stderr: &errb})
	if err != nil {
		return fmt.Errorf("exit of `true`: %v", err)
	}
	if out.Len()+errb.Len() != 0 {
		return fmt.Errorf("unexpected output %q %q", out.String(), errb.String())
	}
	return nil
}

// A binary megabyte through stdin comes back unchanged, and the end of the
// client's stdin ends the process's stdin (cat exits).
func checkExecStdinEOF(e *env, t execTransport) error {
	payload := make([]byte, 1<<20)
	if _, err := rand.Read(payload); err != nil {
		return err
	}
	ex, err := e.execTo(t, []string{"sh", "-c", "cat; echo eof"}, false, true)
	if err != nil {
		return err
	}
	ctx, cancel := e.ctx()
	defer cancel()
	var out, errb bytes.Buffer
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: bytes.NewReader(payload), Stdout: &out, Stderr: &errb})
	if err != nil {
		return fmt.Errorf("stream: %v (stderr %q)", err, errb.String())
	}
	want := append(append([]byte{}, payload...), "eof\n"...)
	if !bytes.Equal(out.Bytes(), want) {
		return fmt.Errorf("stdout: %d bytes, want the %d sent plus \"eof\\n\" (equal prefix %d)", out.Len(), len(want), commonPrefix(out.Bytes(), want))
	}
	return nil
}

func commonPrefix(a, b []byte) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}

// sizeQueue: a remotecommand.TerminalSizeQueue fed by the check; Next
// answers nil (no more sizes) once stop is closed.
type sizeQueue struct {
	ch   chan remotecommand.TerminalSize
	stop chan struct{}
}

func newSizeQueue() *sizeQueue {
	return &sizeQueue{ch: make(chan remotecommand.TerminalSize, 4), stop: make(chan struct{})}
}

func (q *sizeQueue) Next() *remotecommand.TerminalSize {
	select {
	case s := <-q.ch:
		return &s
	case <-q.stop:
		return nil
	}
}

var sizeLine = regexp.MustCompile(`size:(\d+) (\d+)\r?\n`)

// A tty session: the client's first terminal size is the one `stty size`
// sees first (unless -lenient-initial-size), a later size change shows, and
// the exit status of the tty process comes back.
func checkExecTTY(e *env, t execTransport) error {
	// busybox's stty prints nothing (or an error) on a 0x0 terminal: that
	// shows as "size:0 0".
	script := `while :; do s=$(stty size 2>/dev/null); echo "size:${s:-0 0}"; read -r l || exit 9; [ "$l" = q ] && exit 7; done`
	ex, err := e.execTo(t, []string{"sh", "-c", script}, true, true)
	if err != nil {
		return err
	}
	ctx, cancel := e.ctx()
	defer cancel()
	deadline, _ := ctx.Deadline()
	stdinR, stdinW := io.Pipe()
	defer stdinW.Close()
	out := newWatchBuf()
	sizes := newSizeQueue()
	defer close(sizes.stop)
	sizes.ch <- remotecommand.TerminalSize{Width: 123, Height: 45}
	done := make(chan error, 1)
	go func() {
		done <- ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdinR, Stdout: out, Tty: true, TerminalSizeQueue: sizes})
	}()
	// waitSize: the next `stty size` line; with `again`, each miss asks
	// for another (a newline) until `want` shows or the deadline passes.
	off := 0
	waitSize := func(want string, again bool) error {
		for {
			m, end, err := out.waitFor(sizeLine, off, deadline)
			if err != nil {
				select {
				case serr := <-done:
					return fmt.Errorf("%v; stream ended: %v", err, serr)
				default:
					return err
				}
			}
			off = end
			got := m[1] + " " + m[2]
			if got == want {
				return nil
			}
			if !again {
				return fmt.Errorf("stty size %q, want %q", got, want)
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("stty size still %q, want %q", got, want)
			}
			time.Sleep(20 * time.Millisecond) // the size travels on its own stream: ask again
			if _, err := io.WriteString(stdinW, "\n"); err != nil {
				return err
			}
		}
	}
	if err := waitSize("45 123", e.lenientSize); err != nil {
		return fmt.Errorf("initial size: %v", err)
	}
	sizes.ch <- remotecommand.TerminalSize{Width: 77, Height: 22}
	if _, err := io.WriteString(stdinW, "\n"); err != nil {
		return err
	}
	if err := waitSize("22 77", true); err != nil {
		return fmt.Errorf("after resize: %v", err)
	}
	if _, err := io.WriteString(stdinW, "q\n"); err != nil {
		return err
	}
	select {
	case err = <-done:
	case <-ctx.Done():
		return errors.New("stream did not end after the tty process exited")
	}
	return wantExit(err, 7)
}
