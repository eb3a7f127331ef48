package processkit

import (
	"context"
	"testing"
	"time"
)

// The loop fd is registered with Go's netpoller: only a pollable *os.File
// accepts a read deadline.
func TestLoopFDIsInNetpoller(t *testing.T) {
	l, err := NewLoop()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.file.SetReadDeadline(time.Time{}); err != nil {
		t.Fatalf("loop fd is not in the netpoller: %v", err)
	}
}

// Many goroutines waiting on one loop hand the driving over to each other.
func TestLoopManyWaiters(t *testing.T) {
	l, err := NewLoop()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const n = 8
	start := time.Now()
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		c := Command("sh", "-c", "sleep 0.2; echo ok")
		go func() {
			r, err := l.Run(context.Background(), c)
			if err == nil {
				err = r.Check()
			}
			if err == nil && string(r.Stdout) != "ok\n" {
				err = errorf(CodeFailed, "stdout "+string(r.Stdout))
			}
			errs <- err
		}()
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("%d concurrent 0.2 s runs took %v", n, d)
	}
}
