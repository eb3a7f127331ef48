// The peer benchmarks' Go driver: os/exec (impl go_exec).
//
//	go_driver --impl go_exec --scenario NAME --iterations N [--warmup K]
//
// Protocol and scenarios: bench/peers/c/peer_common.h (one JSON object per
// line: a sample, an "unsupported" reason, or a note). processkit_go
// (github.com/ZelAnton/processkit-go) is not built here: the module proxy
// this machine reaches refuses it (see ../README.md), so run_peers.sh records
// it as unavailable instead of running this driver for it.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	bigBytes    = 268435456
	smallBytes  = 1024
	seqBytes    = 3893
	rssChildren = 100
)

var scenario, impl string

func die(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "driver: error: "+format+"\n", a...)
	os.Exit(1)
}

func emit(value float64, unit string) {
	b, _ := json.Marshal(map[string]any{"scenario": scenario, "impl": impl, "value": float64(int64(value*1000)) / 1000, "unit": unit})
	fmt.Println(string(b))
}

func emitText(key, text string) {
	b, _ := json.Marshal(map[string]any{"scenario": scenario, "impl": impl, key: text})
	fmt.Println(string(b))
}

func vmrssKiB() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		die("/proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	die("no VmRSS")
	return 0
}

func spawnWait() {
	if err := exec.Command("/bin/true").Run(); err != nil {
		die("/bin/true: %v", err)
	}
}

func capture(n int) {
	out, err := exec.Command("head", "-c", strconv.Itoa(n), "/dev/zero").Output()
	if err != nil || len(out) != n {
		die("go_exec capture: %d bytes, expected %d (%v)", len(out), n, err)
	}
}

func concurrent(n int) {
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := exec.Command("seq", "1000").Output()
			if err != nil || len(out) != seqBytes {
				errs <- fmt.Sprintf("%d bytes (%v)", len(out), err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		die("go_exec concurrent: %s", e)
	}
}

func rss() float64 {
	before := vmrssKiB()
	cmds := make([]*exec.Cmd, 0, rssChildren)
	for i := 0; i < rssChildren; i++ {
		c := exec.Command("sleep", "30")
		if err := c.Start(); err != nil {
			die("start: %v", err)
		}
		cmds = append(cmds, c)
	}
	after := vmrssKiB()
	for _, c := range cmds {
		_ = c.Process.Kill()
	}
	for _, c := range cmds {
		_ = c.Wait()
	}
	return float64(after-before) / rssChildren
}

func main() {
	iterations := flag.Int("iterations", 10, "measured iterations")
	warmup := flag.Int("warmup", 1, "warm-up iterations")
	flag.StringVar(&impl, "impl", "", "go_exec")
	flag.StringVar(&scenario, "scenario", "", "scenario name")
	flag.Parse()
	if impl != "go_exec" {
		die("unknown impl %q (this driver has go_exec)", impl)
	}
	emitText("note", "os/exec, "+runtime.Version())
	runs := map[string]func(){
		"spawn_wait_true": spawnWait,
		"capture_small":   func() { capture(smallBytes) },
		"capture_256MiB":  func() { capture(bigBytes) },
		"concurrent_16":   func() { concurrent(16) },
		"concurrent_256":  func() { concurrent(256) },
	}
	switch scenario {
	case "teardown_1000":
		emitText("unsupported", "os/exec has no group or tree kill: Cmd.Process.Kill signals the direct child only "+
			"(SysProcAttr.Setpgid only sets the pgid at spawn; killing the group takes syscall.Kill(-pgid))")
		return
	case "rss_per_child":
		for i := 0; i < *warmup; i++ {
			spawnWait()
		}
		// Only a process's first measured iteration is a clean sample.
		for i := 0; i < *iterations; i++ {
			emit(rss(), "KiB")
		}
		return
	}
	run, ok := runs[scenario]
	if !ok {
		die("unknown scenario %q", scenario)
	}
	for i := 0; i < *warmup+*iterations; i++ {
		t0 := time.Now()
		run()
		us := float64(time.Since(t0).Nanoseconds()) / 1000
		if i >= *warmup {
			emit(us, "us")
		}
	}
}
