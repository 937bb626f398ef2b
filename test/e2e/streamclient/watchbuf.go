package main

import (
	"bytes"
	"fmt"
	"regexp"
	"sync"
	"time"
)

// watchBuf is an io.Writer that lets a check wait for output to appear,
// instead of sleeping and hoping.
type watchBuf struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

func newWatchBuf() *watchBuf { return &watchBuf{changed: make(chan struct{})} }

func (w *watchBuf) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	close(w.changed)
	w.changed = make(chan struct{})
	return len(p), nil
}

func (w *watchBuf) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// waitFor: the first match of re in the output from byte offset `from`
// on, and the offset just past it; an error when none came by the deadline.
func (w *watchBuf) waitFor(re *regexp.Regexp, from int, deadline time.Time) ([]string, int, error) {
	for {
		w.mu.Lock()
		data := w.buf.Bytes()
		if from > len(data) {
			from = len(data)
		}
		loc := re.FindSubmatchIndex(data[from:])
		var m []string
		if loc != nil {
			for i := 0; i < len(loc); i += 2 {
				if loc[i] >= 0 {
					m = append(m, string(data[from+loc[i]:from+loc[i+1]]))
				} else {
					m = append(m, "")
				}
			}
		}
		ch := w.changed
		all := string(data)
		w.mu.Unlock()
		if m != nil {
			return m, from + loc[1], nil
		}
		select {
		case <-ch:
		case <-time.After(time.Until(deadline)):
			return nil, 0, fmt.Errorf("no output matching %q by the deadline; output so far %q", re, all)
		}
	}
}
