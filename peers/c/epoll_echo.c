/*
 * A plain echo server in C: one thread, one epoll set, no handshake.
 *
 * The reference for what a fixed-rate echo costs a server with nothing of
 * ours in it (no Rust, no mio, no protocol): scripts/open-loop-cost.sh
 * measures the load against it beside our models. Each readable socket
 * is read once and what came is written back; what the socket would not
 * take waits in a per-connection buffer, and the socket is not read again
 * until that is written (backpressure). A connection that errs is closed.
 *
 *   cc -O2 -o epoll_echo peers/c/epoll_echo.c && ./epoll_echo 127.0.0.1:0
 *
 * prints `listening on HOST:PORT` once it accepts.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFFER 65536

struct conn {
    int fd;
    size_t pending, offset; /* bytes read but not yet written back */
    char buf[BUFFER];
};

static void watch(int epfd, int op, struct conn *c, unsigned events) {
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(epfd, op, c->fd, &ev);
}

static void drop(struct conn *c) {
    close(c->fd); /* also leaves the epoll set */
    free(c);
}

/* Writes back what is pending; 0 when all of it went, 1 when the socket
 * is full, -1 on an error. */
static int flush(struct conn *c) {
    while (c->offset < c->pending) {
        ssize_t n = send(c->fd, c->buf + c->offset, c->pending - c->offset, MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN ? 1 : -1;
        c->offset += (size_t)n;
    }
    c->pending = c->offset = 0;
    return 0;
}

static void on_ready(int epfd, struct conn *c, unsigned events) {
    if (c->pending) { /* waiting to write: only writability matters */
        int done = flush(c);
        if (done < 0)
            drop(c);
        else if (done == 0)
            watch(epfd, EPOLL_CTL_MOD, c, EPOLLIN);
        return;
    }
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    ssize_t n = recv(c->fd, c->buf, BUFFER, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN)) {
        drop(c);
        return;
    }
    if (n < 0)
        return;
    c->pending = (size_t)n;
    int done = flush(c);
    if (done < 0)
        drop(c);
    else if (done == 1)
        watch(epfd, EPOLL_CTL_MOD, c, EPOLLOUT);
}

int main(int argc, char **argv) {
    const char *addr = argc > 1 ? argv[1] : "127.0.0.1:0";
    char host[64];
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof host) {
        fprintf(stderr, "epoll_echo: expected HOST:PORT, got %s\n", addr);
        return 2;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "epoll_echo: not an IPv4 address: %s\n", host);
        return 2;
    }
    int one = 1;
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(listener, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(listener, 4096) < 0) {
        perror("epoll_echo: bind/listen");
        return 1;
    }
    socklen_t len = sizeof sa;
    getsockname(listener, (struct sockaddr *)&sa, &len);
    printf("listening on %s:%u\n", host, ntohs(sa.sin_port));
    fflush(stdout);

    int epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epfd, EPOLL_CTL_ADD, listener, &lev);
    struct epoll_event events[1024];
    for (;;) {
        int ready = epoll_wait(epfd, events, 1024, -1);
        for (int i = 0; i < ready; i++) {
            struct conn *c = events[i].data.ptr;
            if (c) {
                on_ready(epfd, c, events[i].events);
                continue;
            }
            int fd;
            while ((fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                c = malloc(sizeof *c);
                if (!c) {
                    close(fd);
                    continue;
                }
                c->fd = fd;
                c->pending = c->offset = 0;
                watch(epfd, EPOLL_CTL_ADD, c, EPOLLIN);
            }
        }
    }
}
