// streamclient drives a CRI runtime's streaming server (Exec, Attach and
// PortForward URLs) exactly as kubectl does, with kubectl's own client
// libraries (k8s.io/client-go tools/remotecommand and tools/portforward):
// SPDY, WebSocket (v5 and v4 channel protocols), the fallback executor and
// dialer kubectl builds, the SPDY-over-WebSocket tunnel kubectl 1.31+ dials
// for port-forward, and kubelet's own WebSocket port-forward protocol.
//
// It creates no pod or container: the caller makes them (see `server-cmd`
// for the commands the target containers must run) and passes their IDs.
// kcr's e2e test (test/e2e/streaming_clients_test.cpp) and
// bench/streaming.sh run it against kcrd and against containerd.
//
// Usage:
//
//	streamclient server-cmd exec|attach     the command a target container runs
//	streamclient check -r unix:///sock -container ID -attach-container ID -pod ID [-checks a,b]
//	streamclient copy-exec -r unix:///sock -container ID -bytes N [-transport spdy|ws]
//	streamclient copy-pf   -r unix:///sock -pod ID -bytes N
//
// `check` prints one "PASS <name>" or "FAIL <name>: <why>" line per check and
// exits 1 if any failed; the copy modes print "bytes N seconds S MiBps R".
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"k8s.io/klog/v2"
)

// Ports and answers of the servers the target container runs (server-cmd).
const (
	httpPort = 8080
	httpBody = "kcr streamclient http\n"
	echoPort = 9000 // echoes every connection's bytes back
	genPort  = 9001 // reads a decimal byte count line, answers that many zero bytes
)

func usage() {
	fmt.Fprintln(os.Stderr, "usage: streamclient server-cmd exec|attach | check | copy-exec | copy-pf [flags] (-h for flags)")
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	mode := os.Args[1]
	fs := flag.NewFlagSet(mode, flag.ExitOnError)
	endpoint := fs.String("r", "", "CRI runtime endpoint (unix:///path)")
	ctr := fs.String("container", "", "container running `server-cmd exec` (exec checks, copy-exec)")
	actr := fs.String("attach-container", "", "container running `server-cmd attach`, created with stdin (attach checks)")
	attachTTY := fs.Bool("attach-tty", false, "the attach container was created with tty")
	pod := fs.String("pod", "", "pod of -container (port-forward checks, copy-pf)")
	checks := fs.String("checks", "all", "comma-separated check names or prefixes (`list` prints them)")
	lenientSize := fs.Bool("lenient-initial-size", false,
		"accept a tty that shows 0x0 before the client's first size (containerd starts the process before it applies the size)")
	nbytes := fs.Int64("bytes", 256<<20, "copy modes: bytes to move")
	transport := fs.String("transport", "spdy", "copy-exec: spdy or ws")
	timeout := fs.Duration("timeout", 30*time.Second, "per-check deadline")
	verbose := fs.Int("v", 0, "client-go log verbosity")
	wsMax := fs.Int("ws-max-message", 32<<10, "portforward-ws-channel: data bytes per WebSocket message the client sends")
	if mode == "server-cmd" {
		if len(os.Args) != 3 {
			usage()
		}
		fmt.Println(serverCmd(os.Args[2]))
		return
	}
	_ = fs.Parse(os.Args[2:])
	initKlog(*verbose)
	if mode == "check" && *checks == "list" {
		for _, c := range allChecks() {
			fmt.Println(c.name)
		}
		return
	}
	if *endpoint == "" {
		fmt.Fprintln(os.Stderr, "streamclient: -r is required")
		os.Exit(2)
	}
	cri, err := dialCRI(*endpoint)
	if err != nil {
		fmt.Fprintln(os.Stderr, "streamclient:", err)
		os.Exit(2)
	}
	defer cri.close()
	env := &env{cri: cri, ctr: *ctr, attachCtr: *actr, attachTTY: *attachTTY, pod: *pod,
		lenientSize: *lenientSize, timeout: *timeout, wsMaxMessage: max(*wsMax, 1)}
	switch mode {
	case "check":
		os.Exit(runChecks(env, *checks))
	case "copy-exec":
		err = copyExec(env, *transport, *nbytes)
	case "copy-pf":
		err = copyPortForward(env, *nbytes)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "streamclient:", err)
		os.Exit(1)
	}
}

func initKlog(v int) {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("v", fmt.Sprint(v))
	_ = fs.Set("logtostderr", "true")
}

// serverCmd: the argv (as one shell command) a target container runs.
// exec: an HTTP server, an echo server and a zero-byte generator, all
// forking per connection so concurrent connections work. attach: a line
// echoer on its own stdin/stdout, prefixing every line so a reader can tell
// the answer from a tty's echo of the input.
func serverCmd(kind string) string {
	switch kind {
	case "exec":
		return fmt.Sprintf("mkdir -p /tmp/www && printf '%s' >/tmp/www/index.html && "+
			"httpd -p %d -h /tmp/www && "+
			"(nc -ll -p %d -e cat &) && "+
			"(nc -ll -p %d -e sh -c 'read n; head -c $n /dev/zero' &) && "+
			"exec sleep 2147483647", strings.TrimSuffix(httpBody, "\n")+"\\n", httpPort, echoPort, genPort)
	case "attach":
		return `while read -r l; do echo "attach:$l"; done`
	}
	usage()
	return ""
}

type check struct {
	name string
	run  func(*env) error
}

func runChecks(e *env, sel string) int {
	var want []string
	if sel != "all" {
		want = strings.Split(sel, ",")
	}
	failed, ran := []string{}, 0
	for _, c := range allChecks() {
		if !selected(c.name, want) {
			continue
		}
		ran++
		start := time.Now()
		err := c.run(e)
		if err != nil {
			failed = append(failed, c.name)
			fmt.Printf("FAIL %s: %v\n", c.name, err)
		} else {
			fmt.Printf("PASS %s (%d ms)\n", c.name, time.Since(start).Milliseconds())
		}
	}
	if ran == 0 {
		fmt.Printf("FAIL no check matches %q\n", sel)
		return 1
	}
	sort.Strings(failed)
	fmt.Printf("%d passed, %d failed\n", ran-len(failed), len(failed))
	if len(failed) > 0 {
		return 1
	}
	return 0
}

func selected(name string, want []string) bool {
	if want == nil {
		return true
	}
	for _, w := range want {
		if w = strings.TrimSpace(w); w != "" && strings.HasPrefix(name, w) {
			return true
		}
	}
	return false
}

func allChecks() []check {
	var cs []check
	for _, t := range execTransports {
		t := t
		cs = append(cs,
			check{"exec-" + t.name + "-stdio", func(e *env) error { return checkExecStdio(e, t) }},
			check{"exec-" + t.name + "-exit0", func(e *env) error { return checkExecExit0(e, t) }},
			check{"exec-" + t.name + "-tty", func(e *env) error { return checkExecTTY(e, t) }},
		)
		if t.stdinEOF {
			cs = append(cs, check{"exec-" + t.name + "-stdin-eof", func(e *env) error { return checkExecStdinEOF(e, t) }})
		}
	}
	for _, t := range execTransports {
		t := t
		cs = append(cs, check{"attach-" + t.name, func(e *env) error { return checkAttach(e, t) }})
	}
	cs = append(cs, check{"attach-spdy-two-attachers", checkTwoAttachers})
	for _, d := range pfDialers {
		d := d
		cs = append(cs, check{"portforward-" + d.name, func(e *env) error { return checkPortForward(e, d) }})
	}
	cs = append(cs, check{"portforward-ws-channel", checkWSPortForward})
	return cs
}
