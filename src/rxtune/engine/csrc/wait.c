#include "common.h"

#include <poll.h>
#include <sys/epoll.h>

int rxt_wait_readable(int fd, int epfd, enum rxt_wait wait, int slice_ms)
{
    if (wait == RXT_WAIT_POLL) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        return poll(&p, 1, slice_ms);
    }
    if (wait == RXT_WAIT_EPOLL) {
        struct epoll_event ev;
        return epoll_wait(epfd, &ev, 1, slice_ms);
    }
    return 1;
}
