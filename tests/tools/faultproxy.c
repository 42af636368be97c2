/*
 * faultproxy.c - cdc-faultproxy, the fault-injection TCP proxy of the
 * integration tests (issue 6). Not part of the daemon.
 *
 * Usage: cdc-faultproxy TARGET_PORT [LISTEN_PORT [CONTROL_PORT]]
 *
 * Listens on 127.0.0.1:LISTEN_PORT and forwards each accepted connection to
 * 127.0.0.1:TARGET_PORT. A port of 0 (the default) lets the kernel choose;
 * once both sockets are bound it prints one line on stdout,
 *     cdc-faultproxy listen=PORT control=PORT target=PORT
 * and runs until SIGTERM or SIGINT. One thread, poll(2), non-blocking
 * sockets, and at most FP_MAX_BUF bytes held per direction of a connection
 * (the proxy stops reading a side whose bytes cannot be passed on).
 *
 * Control: connect to 127.0.0.1:CONTROL_PORT and send one command per line;
 * each gets one line back, "ok ..." or "error ...". The mode applies to the
 * current connections and to the ones accepted later, until the next mode:
 *   pass                    forward (the starting mode)
 *   blackhole [up|down|both]
 *                           read and drop every byte in that direction ("up" is
 *                           client -> server, "down" server -> client; default
 *                           both). A side that closes meanwhile is not told to
 *                           the other side (the packets are lost); when the
 *                           direction passes bytes again, the other side gets
 *                           a reset, as a peer that forgot the connection
 *                           answers after a partition heals
 *   stall [up|down|both]    stop reading that direction: bytes wait in the
 *                           kernel buffers and arrive later, as TCP retransmits
 *                           do through a short outage
 *   delay MS                forward every byte MS milliseconds after it arrived
 *   refuse                  close each new connection at once (with a reset);
 *                           current ones are forwarded
 * and two commands that change no mode:
 *   cut                     close every current connection at once, both sides,
 *                           with a reset (SO_LINGER 0); accepting goes on
 *   status                  "ok mode=... conns=N accepted=N up=N down=N
 *                           dropped_up=N dropped_down=N" (bytes forwarded and dropped)
 * Shell example: printf 'blackhole down\n' | nc -q1 127.0.0.1 CONTROL_PORT
 *
 * What it does not do: TLS, IPv6, other hosts than loopback, UDP.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FP_MAX_CONNS 64
#define FP_MAX_CTL   8
#define FP_MAX_BUF   (256 * 1024) /* bytes held per direction of a connection */
#define FP_READ      (64 * 1024)  /* bytes per read */
#define FP_CTL_LINE  256

enum fp_mode { FP_PASS, FP_BLACKHOLE, FP_STALL, FP_DELAY, FP_REFUSE };

/* Directions: UP is client -> server (side 0 to side 1), DOWN server -> client. */
#define FP_UP   1
#define FP_DOWN 2

struct fp_chunk {
    struct fp_chunk *next;
    int64_t due_ms; /* not written before then (delay mode) */
    size_t len, off;
    char data[];
};

/* Bytes read from one side, waiting to be written to the other. */
struct fp_dir {
    struct fp_chunk *head, *tail;
    size_t bytes;
};

struct fp_pair {
    int fd[2];          /* 0: the accepted client, 1: the connection to the target */
    bool connecting;    /* fd[1]'s connect has not completed */
    bool closed[2];     /* the side hung up (fd closed, -1) */
    bool reset[2];      /* ... by an error, or unseen by the other side (blackhole) */
    struct fp_dir d[2]; /* d[i]: read from side i, to be written to side 1 - i */
    unsigned long id;   /* for the log */
};

struct fp_ctl {
    int fd;
    size_t len;
    char line[FP_CTL_LINE];
};

struct fp {
    int lfd, cfd;
    int target;
    enum fp_mode mode;
    int dirs;         /* FP_UP|FP_DOWN for blackhole and stall */
    int64_t delay_ms; /* delay mode */
    struct fp_pair *pairs[FP_MAX_CONNS];
    struct fp_ctl ctl[FP_MAX_CTL];
    unsigned long accepted;
    uint64_t fwd[2], dropped[2]; /* per direction: [0] up, [1] down */
};

static volatile sig_atomic_t fp_stop;

static void
fp_on_signal(int sig)
{
    (void) sig;
    fp_stop = 1;
}

static int64_t
fp_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fp_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
fp_log(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    int n;

    n = snprintf(line, sizeof(line), "faultproxy %lld: ", (long long) fp_now_ms());
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t) n - 1, fmt, ap);
    va_end(ap);
    strcat(line, "\n");
    fputs(line, stderr);
}

static int
fp_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Close with a reset (RST) instead of an orderly FIN. */
static void
fp_close_reset(int fd)
{
    struct linger lg = {1, 0};

    if (fd < 0)
        return;
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

static int
fp_listen(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    socklen_t len = sizeof(a);

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    a.sin_port = htons((uint16_t) port);
    if (bind(fd, (struct sockaddr *) &a, sizeof(a)) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *) &a, &len) != 0 || fp_nonblock(fd) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int
fp_port_of(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);

    return getsockname(fd, (struct sockaddr *) &a, &len) == 0 ? ntohs(a.sin_port) : -1;
}

/* Is the direction read from side i blackholed / stalled now? */
static bool
fp_dir_is(const struct fp *p, enum fp_mode m, int side)
{
    return p->mode == m && (p->dirs & (side == 0 ? FP_UP : FP_DOWN)) != 0;
}

static void
fp_dir_free(struct fp_dir *d)
{
    while (d->head != NULL) {
        struct fp_chunk *c = d->head;

        d->head = c->next;
        free(c);
    }
    d->tail = NULL;
    d->bytes = 0;
}

static void
fp_pair_free(struct fp *p, int k, bool reset)
{
    struct fp_pair *c = p->pairs[k];

    for (int i = 0; i < 2; i++) {
        if (c->fd[i] >= 0) {
            if (reset)
                fp_close_reset(c->fd[i]);
            else
                close(c->fd[i]);
        }
        fp_dir_free(&c->d[i]);
    }
    fp_log("conn %lu closed%s", c->id, reset ? " (reset)" : "");
    free(c);
    p->pairs[k] = NULL;
}

static void
fp_cut_all(struct fp *p)
{
    int n = 0;

    for (int k = 0; k < FP_MAX_CONNS; k++)
        if (p->pairs[k] != NULL) {
            fp_pair_free(p, k, true);
            n++;
        }
    fp_log("cut %d connection(s)", n);
}

static void
fp_accept(struct fp *p)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct fp_pair *c;
    int cfd, sfd, k, one = 1;

    cfd = accept(p->lfd, NULL, NULL);
    if (cfd < 0)
        return;
    p->accepted++;
    for (k = 0; k < FP_MAX_CONNS && p->pairs[k] != NULL; k++)
        ;
    if (p->mode == FP_REFUSE || k == FP_MAX_CONNS) {
        fp_log("refused a connection%s", k == FP_MAX_CONNS ? " (too many)" : "");
        fp_close_reset(cfd);
        return;
    }
    sfd = socket(AF_INET, SOCK_STREAM, 0);
    c = calloc(1, sizeof(*c));
    if (sfd < 0 || c == NULL || fp_nonblock(cfd) != 0 || fp_nonblock(sfd) != 0)
        goto fail;
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    a.sin_port = htons((uint16_t) p->target);
    if (connect(sfd, (struct sockaddr *) &a, sizeof(a)) != 0 && errno != EINPROGRESS)
        goto fail;
    c->fd[0] = cfd;
    c->fd[1] = sfd;
    c->connecting = true;
    c->id = p->accepted;
    p->pairs[k] = c;
    fp_log("conn %lu accepted", c->id);
    return;
fail:
    fp_log("could not connect to port %d: %s", p->target, strerror(errno));
    fp_close_reset(cfd);
    if (sfd >= 0)
        close(sfd);
    free(c);
}

/* Side i hung up (or failed): remember it; the pair is closed once that is due. */
static void
fp_side_gone(struct fp_pair *c, int i, bool error, bool unseen)
{
    if (error || unseen)
        fp_close_reset(c->fd[i]);
    else
        close(c->fd[i]);
    c->fd[i] = -1;
    c->closed[i] = true;
    c->reset[i] = error || unseen;
}

/* Read from side i into d[i] (or drop it when that direction is blackholed). */
static void
fp_read_side(struct fp *p, struct fp_pair *c, int i)
{
    bool hole = fp_dir_is(p, FP_BLACKHOLE, i);
    struct fp_chunk *ch = malloc(sizeof(*ch) + FP_READ);
    ssize_t n;

    if (ch == NULL)
        return;
    n = read(c->fd[i], ch->data, FP_READ);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        free(ch);
        return;
    }
    if (n <= 0) {
        free(ch);
        fp_log("conn %lu: %s %s%s", c->id, i == 0 ? "client" : "server",
               n == 0 ? "hung up" : "failed", hole ? " (blackholed: not passed on)" : "");
        fp_side_gone(c, i, n < 0, hole);
        return;
    }
    if (hole) {
        p->dropped[i] += (uint64_t) n;
        free(ch);
        return;
    }
    ch->next = NULL;
    ch->len = (size_t) n;
    ch->off = 0;
    ch->due_ms = p->mode == FP_DELAY ? fp_now_ms() + p->delay_ms : 0;
    if (c->d[i].tail != NULL)
        c->d[i].tail->next = ch;
    else
        c->d[i].head = ch;
    c->d[i].tail = ch;
    c->d[i].bytes += (size_t) n;
}

/* Write what is due of d[i] to side 1 - i (dropping it when blackholed or that side is gone). */
static void
fp_write_side(struct fp *p, struct fp_pair *c, int i, int64_t now)
{
    struct fp_dir *d = &c->d[i];
    int j = 1 - i;

    while (d->head != NULL && d->head->due_ms <= now) {
        struct fp_chunk *ch = d->head;
        size_t left = ch->len - ch->off;
        ssize_t n;

        if (fp_dir_is(p, FP_BLACKHOLE, i) || c->closed[j]) {
            n = (ssize_t) left;
            p->dropped[i] += left;
        } else {
            n = send(c->fd[j], ch->data + ch->off, left, MSG_NOSIGNAL);
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
            if (n < 0) {
                fp_side_gone(c, j, true, false);
                continue;
            }
            p->fwd[i] += (uint64_t) n;
        }
        ch->off += (size_t) n;
        d->bytes -= (size_t) n;
        if (ch->off < ch->len)
            return;
        d->head = ch->next;
        if (d->head == NULL)
            d->tail = NULL;
        free(ch);
    }
}

static void
fp_connected(struct fp_pair *c)
{
    int e = 0;
    socklen_t len = sizeof(e);

    if (getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &e, &len) != 0)
        e = errno;
    c->connecting = false;
    if (e != 0) {
        fp_log("conn %lu: could not connect to the target: %s", c->id, strerror(e));
        fp_side_gone(c, 1, true, false);
    }
}

/*
 * Should the pair be closed now? When a side is gone, its bytes were passed
 * on, and the other side may learn it: at once, unless the direction from the
 * gone side is blackholed (then only once the blackhole ends).
 */
static bool
fp_pair_done(const struct fp *p, const struct fp_pair *c, bool *reset)
{
    for (int i = 0; i < 2; i++) {
        if (!c->closed[i] || c->d[i].head != NULL || fp_dir_is(p, FP_BLACKHOLE, i))
            continue;
        *reset = c->reset[i];
        return true;
    }
    return false;
}

/* The poll events wanted on side i of c. */
static short
fp_events(const struct fp *p, const struct fp_pair *c, int i)
{
    short ev = 0;

    if (c->closed[i])
        return 0;
    if (i == 1 && c->connecting)
        return POLLOUT;
    if (!c->connecting && !fp_dir_is(p, FP_STALL, i) && c->d[i].bytes < FP_MAX_BUF)
        ev |= POLLIN;
    if (!c->connecting && c->d[1 - i].head != NULL)
        ev |= POLLOUT;
    return ev;
}

static const char *
fp_dirs_name(int dirs)
{
    return dirs == FP_UP ? "up" : dirs == FP_DOWN ? "down" : "both";
}

static void
fp_status(const struct fp *p, char *out, size_t n)
{
    static const char *const names[] = {"pass", "blackhole", "stall", "delay", "refuse"};
    char mode[32];
    int conns = 0;

    for (int k = 0; k < FP_MAX_CONNS; k++)
        conns += p->pairs[k] != NULL;
    if (p->mode == FP_BLACKHOLE || p->mode == FP_STALL)
        snprintf(mode, sizeof(mode), "%s:%s", names[p->mode], fp_dirs_name(p->dirs));
    else if (p->mode == FP_DELAY)
        snprintf(mode, sizeof(mode), "delay:%lld", (long long) p->delay_ms);
    else
        snprintf(mode, sizeof(mode), "%s", names[p->mode]);
    snprintf(out, n,
             "ok mode=%s conns=%d accepted=%lu up=%llu down=%llu dropped_up=%llu "
             "dropped_down=%llu\n",
             mode, conns, p->accepted, (unsigned long long) p->fwd[0],
             (unsigned long long) p->fwd[1], (unsigned long long) p->dropped[0],
             (unsigned long long) p->dropped[1]);
}

static bool
fp_parse_dirs(const char *arg, int *dirs)
{
    if (arg == NULL || strcmp(arg, "both") == 0)
        *dirs = FP_UP | FP_DOWN;
    else if (strcmp(arg, "up") == 0)
        *dirs = FP_UP;
    else if (strcmp(arg, "down") == 0)
        *dirs = FP_DOWN;
    else
        return false;
    return true;
}

/* Run one control command; the answer line goes to out. */
static void
fp_command(struct fp *p, char *line, char *out, size_t n)
{
    char *save = NULL, *cmd = strtok_r(line, " \t\r", &save), *arg = strtok_r(NULL, " \t\r", &save);
    int dirs = 0;

    if (cmd == NULL) {
        snprintf(out, n, "error empty command\n");
        return;
    }
    if (strcmp(cmd, "status") == 0) {
        fp_status(p, out, n);
        return;
    }
    if (strcmp(cmd, "cut") == 0) {
        fp_cut_all(p);
    } else if (strcmp(cmd, "pass") == 0 || strcmp(cmd, "refuse") == 0) {
        p->mode = cmd[0] == 'p' ? FP_PASS : FP_REFUSE;
    } else if ((strcmp(cmd, "blackhole") == 0 || strcmp(cmd, "stall") == 0) &&
               fp_parse_dirs(arg, &dirs)) {
        p->mode = cmd[0] == 'b' ? FP_BLACKHOLE : FP_STALL;
        p->dirs = dirs;
    } else if (strcmp(cmd, "delay") == 0 && arg != NULL && atoll(arg) >= 0) {
        p->mode = FP_DELAY;
        p->delay_ms = atoll(arg);
    } else {
        snprintf(out, n, "error unknown command \"%s%s%s\"\n", cmd, arg ? " " : "", arg ? arg : "");
        return;
    }
    fp_status(p, out, n);
    fp_log("command \"%s%s%s\": %.*s", cmd, arg ? " " : "", arg ? arg : "",
           (int) strcspn(out, "\n"), out);
}

static void
fp_ctl_accept(struct fp *p)
{
    int fd = accept(p->cfd, NULL, NULL);

    if (fd < 0)
        return;
    for (int k = 0; k < FP_MAX_CTL; k++)
        if (p->ctl[k].fd < 0) {
            fp_nonblock(fd);
            p->ctl[k].fd = fd;
            p->ctl[k].len = 0;
            return;
        }
    close(fd);
}

/* Read from a control connection; run each complete line. */
static void
fp_ctl_read(struct fp *p, struct fp_ctl *x)
{
    ssize_t n = read(x->fd, x->line + x->len, sizeof(x->line) - 1 - x->len);
    char *nl, out[512];

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0 || x->len + (size_t) n >= sizeof(x->line) - 1) {
        close(x->fd);
        x->fd = -1;
        return;
    }
    x->len += (size_t) n;
    x->line[x->len] = '\0';
    while ((nl = strchr(x->line, '\n')) != NULL) {
        size_t used = (size_t) (nl - x->line) + 1;

        *nl = '\0';
        fp_command(p, x->line, out, sizeof(out));
        /* the answer is one short line: the socket buffer takes it whole */
        if (send(x->fd, out, strlen(out), MSG_NOSIGNAL) < 0)
            fp_log("could not answer a control command: %s", strerror(errno));
        memmove(x->line, x->line + used, x->len - used + 1);
        x->len -= used;
    }
}

/* Milliseconds until the first delayed chunk is due (-1: none, 1000 at most). */
static int
fp_timeout(const struct fp *p, int64_t now)
{
    int64_t t = -1;

    for (int k = 0; k < FP_MAX_CONNS; k++)
        for (int i = 0; p->pairs[k] != NULL && i < 2; i++) {
            const struct fp_chunk *h = p->pairs[k]->d[i].head;

            if (h != NULL && h->due_ms > now && (t < 0 || h->due_ms - now < t))
                t = h->due_ms - now;
        }
    return t < 0 || t > 1000 ? 1000 : (int) t;
}

/* After poll: the events of pair k. */
static void
fp_pair_step(struct fp *p, int k, const struct pollfd *pf, int64_t now)
{
    struct fp_pair *c = p->pairs[k];
    bool reset = false;

    if (c->connecting && pf[1].revents != 0)
        fp_connected(c);
    for (int i = 0; i < 2; i++)
        if (!c->closed[i] && (pf[i].events & POLLIN) &&
            (pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
            fp_read_side(p, c, i);
    for (int i = 0; i < 2; i++)
        if (!c->connecting)
            fp_write_side(p, c, i, now);
    if (fp_pair_done(p, c, &reset))
        fp_pair_free(p, k, reset);
}

static void
fp_loop(struct fp *p)
{
    struct pollfd pf[2 + FP_MAX_CTL + 2 * FP_MAX_CONNS];

    while (!fp_stop) {
        int64_t now = fp_now_ms();
        int n = 0;

        pf[n++] = (struct pollfd){.fd = p->lfd, .events = POLLIN};
        pf[n++] = (struct pollfd){.fd = p->cfd, .events = POLLIN};
        for (int k = 0; k < FP_MAX_CTL; k++)
            pf[n++] = (struct pollfd){.fd = p->ctl[k].fd, .events = POLLIN};
        for (int k = 0; k < FP_MAX_CONNS; k++)
            for (int i = 0; i < 2; i++) {
                const struct fp_pair *c = p->pairs[k];

                short ev = c != NULL ? fp_events(p, c, i) : 0;

                /* nothing wanted: leave the fd out, or a hang-up would wake poll at once */
                pf[n++] = (struct pollfd){.fd = ev != 0 ? c->fd[i] : -1, .events = ev};
            }
        if (poll(pf, (nfds_t) n, fp_timeout(p, now)) < 0 && errno != EINTR)
            break;
        now = fp_now_ms();
        for (int k = 0; k < FP_MAX_CONNS; k++)
            if (p->pairs[k] != NULL)
                fp_pair_step(p, k, &pf[2 + FP_MAX_CTL + 2 * k], now);
        for (int k = 0; k < FP_MAX_CTL; k++)
            if (p->ctl[k].fd >= 0 && pf[2 + k].revents != 0)
                fp_ctl_read(p, &p->ctl[k]);
        if (pf[0].revents & POLLIN)
            fp_accept(p);
        if (pf[1].revents & POLLIN)
            fp_ctl_accept(p);
    }
}

static int
fp_port_arg(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);

    return *s != '\0' && *end == '\0' && v >= 0 && v <= 65535 ? (int) v : -1;
}

int
main(int argc, char **argv)
{
    struct sigaction sa;
    static struct fp p;
    int lport = 0, cport = 0;

    if (argc < 2 || argc > 4 || (p.target = fp_port_arg(argv[1])) <= 0 ||
        (argc > 2 && (lport = fp_port_arg(argv[2])) < 0) ||
        (argc > 3 && (cport = fp_port_arg(argv[3])) < 0)) {
        fprintf(stderr, "usage: cdc-faultproxy TARGET_PORT [LISTEN_PORT [CONTROL_PORT]]\n");
        return 2;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = fp_on_signal; /* no SA_RESTART: poll returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    for (int k = 0; k < FP_MAX_CTL; k++)
        p.ctl[k].fd = -1;
    p.lfd = fp_listen(lport);
    p.cfd = fp_listen(cport);
    if (p.lfd < 0 || p.cfd < 0) {
        fprintf(stderr, "cdc-faultproxy: could not listen: %s\n", strerror(errno));
        return 1;
    }
    printf("cdc-faultproxy listen=%d control=%d target=%d\n", fp_port_of(p.lfd), fp_port_of(p.cfd),
           p.target);
    fflush(stdout);
    fp_loop(&p);
    fp_cut_all(&p);
    for (int k = 0; k < FP_MAX_CTL; k++)
        if (p.ctl[k].fd >= 0)
            close(p.ctl[k].fd);
    close(p.lfd);
    close(p.cfd);
    return 0;
}
