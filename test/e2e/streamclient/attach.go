package main

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"sync/atomic"
	"time"

	"k8s.io/client-go/tools/remotecommand"
)

var attachSeq atomic.Int64

// attachSession: one client attached to the attach container.
type attachSession struct {
	out    *watchBuf
	stdinW *io.PipeWriter
	ended  chan struct{} // closed when the stream returned, with err set
	err    error
	cancel func()
}

func (e *env) attach(t execTransport, stdin bool) (*attachSession, error) {
	if e.attachCtr == "" {
		return nil, errors.New("no -attach-container given")
	}
	ex, err := t.build(func() (*url.URL, error) { return e.cri.attachURL(e.attachCtr, e.attachTTY, stdin) })
	if err != nil {
		return nil, err
	}
	ctx, cancel := e.ctx()
	s := &attachSession{out: newWatchBuf(), ended: make(chan struct{}), cancel: cancel}
	opts := remotecommand.StreamOptions{Stdout: s.out, Tty: e.attachTTY}
	if !e.attachTTY {
		opts.Stderr = s.out
	}
	if stdin {
		r, w := io.Pipe()
		s.stdinW = w
		opts.Stdin = r
	}
	go func() {
		s.err = ex.StreamWithContext(ctx, opts)
		close(s.ended)
		if s.stdinW != nil {
			s.stdinW.CloseWithError(errors.New("attach stream ended")) // unblocks a pending write
		}
	}()
	return s, nil
}

// detach: the client goes away (kubectl attach's Ctrl-C); the stream must
// end promptly and leave the container running.
func (s *attachSession) detach() error {
	if s.stdinW != nil {
		s.stdinW.Close()
	}
	s.cancel()
	select {
	case <-s.ended:
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("attach stream did not end after the client left")
	}
}

// send: writes a fresh line through stdin until `readers` all show the
// container's answer to it. Retried because an attach has no "ready"
// signal: a line written before the server attached our reader is
// answered unseen.
func (s *attachSession) send(e *env, readers ...*attachSession) error {
	deadline := time.Now().Add(e.timeout)
	var last error
	for time.Now().Before(deadline) {
		tok := fmt.Sprintf("ping-%d", attachSeq.Add(1))
		if _, err := io.WriteString(s.stdinW, tok+"\n"); err != nil {
			select {
			case <-s.ended:
				return fmt.Errorf("attach stream ended: %v", s.err)
			default:
				return fmt.Errorf("stdin: %v", err)
			}
		}
		re := regexp.MustCompile("attach:" + tok + `\r?\n`)
		ok := true
		for _, r := range readers {
			if _, _, err := r.out.waitFor(re, 0, time.Now().Add(time.Second)); err != nil {
				ok, last = false, err
				break
			}
		}
		if ok {
			return nil
		}
		select {
		case <-s.ended:
			return fmt.Errorf("attach stream ended: %v", s.err)
		default:
		}
	}
	return last
}

func checkAttach(e *env, t execTransport) error {
	s, err := e.attach(t, true)
	if err != nil {
		return err
	}
	if err := s.send(e, s); err != nil {
		s.detach()
		return err
	}
	return s.detach()
}

// Two clients attached at once both see the container's output.
func checkTwoAttachers(e *env) error {
	a, err := e.attach(execTransports[0], true)
	if err != nil {
		return err
	}
	defer a.detach()
	if err := a.send(e, a); err != nil {
		return fmt.Errorf("first attacher: %v", err)
	}
	b, err := e.attach(execTransports[0], false)
	if err != nil {
		return err
	}
	defer b.detach()
	if err := a.send(e, a, b); err != nil {
		return fmt.Errorf("second attacher: %v", err)
	}
	return nil
}
