package main

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// env: what every check needs.
type env struct {
	cri         *criClient
	ctr         string
	attachCtr   string
	attachTTY   bool
	pod         string
	lenientSize bool
	timeout     time.Duration
	// wsMaxMessage: data bytes per message the WebSocket port-forward
	// client sends (containerd 1.6 drops every byte of a message past its
	// 4096th, so its reference run uses 4095).
	wsMaxMessage int
}

type criClient struct {
	conn *grpc.ClientConn
	rt   runtimeapi.RuntimeServiceClient
}

func dialCRI(endpoint string) (*criClient, error) {
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("CRI endpoint %s: %w", endpoint, err)
	}
	return &criClient{conn: conn, rt: runtimeapi.NewRuntimeServiceClient(conn)}, nil
}

func (c *criClient) close() { _ = c.conn.Close() }

// Each streaming session gets a URL of its own, as kubelet asks the runtime
// for one per client request: tokens are single-use, so a fallback from
// WebSocket to SPDY (which through an API server is a new request to
// kubelet) takes a second URL here.

func (c *criClient) execURL(ctr string, cmd []string, tty, stdin bool) (*url.URL, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := c.rt.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: ctr, Cmd: cmd, Tty: tty, Stdin: stdin,
		Stdout: true, Stderr: !tty})
	if err != nil {
		return nil, fmt.Errorf("Exec RPC for container %s: %w", ctr, err)
	}
	return url.Parse(r.Url)
}

func (c *criClient) attachURL(ctr string, tty, stdin bool) (*url.URL, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := c.rt.Attach(ctx, &runtimeapi.AttachRequest{ContainerId: ctr, Tty: tty, Stdin: stdin,
		Stdout: true, Stderr: !tty})
	if err != nil {
		return nil, fmt.Errorf("Attach RPC for container %s: %w", ctr, err)
	}
	return url.Parse(r.Url)
}

func (c *criClient) portForwardURL(pod string, ports ...int32) (*url.URL, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := c.rt.PortForward(ctx, &runtimeapi.PortForwardRequest{PodSandboxId: pod, Port: ports})
	if err != nil {
		return nil, fmt.Errorf("PortForward RPC for pod %s: %w", pod, err)
	}
	return url.Parse(r.Url)
}
