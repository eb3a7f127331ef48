/* A process that never stays put: each link forks its successor and exits
 * at once, so at any instant one short-lived process (plus zombies) holds
 * the chain's process group. Every 256 links the current one writes its pid
 * to LAST_FILE. It ends itself when STOP_FILE exists or after 60 s, so a
 * chain that escapes a test still goes away.
 *
 * usage: fork_chain STOP_FILE LAST_FILE */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    const double until = now_s() + 60.0;
    for (unsigned long link = 0;; link++) {
        pid_t next = fork();
        if (next < 0) {
            usleep(1000); /* out of pids for a moment: try again */
            continue;
        }
        if (next > 0)
            _exit(0);
        if (link % 256 != 0)
            continue;
        if (access(argv[1], F_OK) == 0 || now_s() > until)
            _exit(0);
        char buf[32];
        int n = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
        int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0) {
            if (write(fd, buf, (size_t)n) != n)
                _exit(3);
            close(fd);
        }
    }
}
