/* The Python face of the engine: argument parsing and buffers only. The loops release the
 * GIL; C returns plain numbers and Python names them. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "pingpong.h"
#include "xdp.h"

static int int64_buffer(PyObject *obj, Py_buffer *view, const char *what)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_WRITABLE | PyBUF_FORMAT) < 0)
        return -1;
    if (view->itemsize != 8 || !view->format || (view->format[0] != 'q' && view->format[0] != 'l')) {
        PyErr_Format(PyExc_TypeError, "%s must be a writable int64 buffer", what);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static PyObject *counts_dict(const struct rxt_counts *c)
{
    return Py_BuildValue("{s:K,s:K,s:K,s:K,s:K,s:K}", "sent", (unsigned long long)c->sent,
                         "received", (unsigned long long)c->received, "reordered",
                         (unsigned long long)c->reordered, "timeouts",
                         (unsigned long long)c->timeouts, "send_errors",
                         (unsigned long long)c->send_errors, "highest_seq",
                         (unsigned long long)c->highest_seq);
}

static PyObject *engine_reflect(PyObject *self, PyObject *args)
{
    struct rxt_loop loop;
    int wait;
    long long deadline;
    PyObject *a, *b, *c;
    if (!PyArg_ParseTuple(args, "iiiLOOO", &loop.fd, &loop.epfd, &wait, &deadline, &a, &b, &c))
        return NULL;
    loop.wait = (enum rxt_wait)wait;
    loop.deadline_ns = deadline;
    Py_buffer va, vb, vc;
    if (int64_buffer(a, &va, "one_way") < 0)
        return NULL;
    if (int64_buffer(b, &vb, "to_kernel") < 0) {
        PyBuffer_Release(&va);
        return NULL;
    }
    if (int64_buffer(c, &vc, "kernel_to_app") < 0) {
        PyBuffer_Release(&va);
        PyBuffer_Release(&vb);
        return NULL;
    }
    size_t cap = (size_t)(va.len / 8);
    if ((size_t)(vb.len / 8) < cap) cap = (size_t)(vb.len / 8);
    if ((size_t)(vc.len / 8) < cap) cap = (size_t)(vc.len / 8);
    struct rxt_samples out = {va.buf, vb.buf, vc.buf, cap};
    struct rxt_counts counts;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = rxt_reflect(&loop, &out, &counts);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&va);
    PyBuffer_Release(&vb);
    PyBuffer_Release(&vc);
    if (rc < 0) {
        errno = -rc;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return counts_dict(&counts);
}

static PyObject *engine_ping(PyObject *self, PyObject *args)
{
    struct rxt_loop loop;
    int wait;
    long long deadline, reply_timeout;
    Py_ssize_t message_size;
    unsigned long long count;
    int warmup;
    PyObject *rtt, *wake = Py_None;
    if (!PyArg_ParseTuple(args, "iiiLnKpLO|O", &loop.fd, &loop.epfd, &wait, &deadline,
                          &message_size, &count, &warmup, &reply_timeout, &rtt, &wake))
        return NULL;
    if (message_size < RXT_MIN_MESSAGE || message_size > 65000) {
        PyErr_Format(PyExc_ValueError, "message size must be %d..65000 bytes", RXT_MIN_MESSAGE);
        return NULL;
    }
    loop.wait = (enum rxt_wait)wait;
    loop.deadline_ns = deadline;
    Py_buffer view, wake_view = {0};
    if (int64_buffer(rtt, &view, "rtt") < 0)
        return NULL;
    struct rxt_samples out = {view.buf, NULL, NULL, (size_t)(view.len / 8)};
    if (wake != Py_None) {
        if (int64_buffer(wake, &wake_view, "kernel_to_app") < 0) {
            PyBuffer_Release(&view);
            return NULL;
        }
        out.kernel_to_app = wake_view.buf;
        if ((size_t)(wake_view.len / 8) < out.capacity)
            out.capacity = (size_t)(wake_view.len / 8);
    }
    struct rxt_counts counts;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = rxt_ping(&loop, (size_t)message_size, count, warmup, reply_timeout, &out, &counts);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (wake != Py_None)
        PyBuffer_Release(&wake_view);
    if (rc < 0) {
        errno = -rc;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return counts_dict(&counts);
}

/* The per-packet record of the load receivers: three int64 arrays (None: count only) and a
 * byte bitmap of seen sequence numbers. */
struct record_views {
    Py_buffer latency, to_kernel, kernel_to_app, seen;
    int have_arrays;
};

static int record_from_python(PyObject *latency, PyObject *to_kernel, PyObject *k2a,
                              PyObject *seen, long long offset, int port,
                              struct rxt_rx_record *rec, struct record_views *v)
{
    memset(rec, 0, sizeof(*rec));
    memset(v, 0, sizeof(*v));
    if (PyObject_GetBuffer(seen, &v->seen, PyBUF_WRITABLE) < 0)
        return -1;
    rec->seen = v->seen.buf;
    rec->seen_bits = (uint64_t)v->seen.len * 8;
    rec->real_minus_mono = offset;
    rec->port = (uint16_t)port;
    if (latency == Py_None)
        return 0;
    if (int64_buffer(latency, &v->latency, "latency") < 0)
        goto fail_seen;
    if (int64_buffer(to_kernel, &v->to_kernel, "to_kernel") < 0)
        goto fail_latency;
    if (int64_buffer(k2a, &v->kernel_to_app, "kernel_to_app") < 0)
        goto fail_to_kernel;
    v->have_arrays = 1;
    rec->latency = v->latency.buf;
    rec->to_kernel = v->to_kernel.buf;
    rec->kernel_to_app = v->kernel_to_app.buf;
    rec->capacity = (size_t)(v->latency.len / 8);
    if ((size_t)(v->to_kernel.len / 8) < rec->capacity) rec->capacity = (size_t)(v->to_kernel.len / 8);
    if ((size_t)(v->kernel_to_app.len / 8) < rec->capacity) rec->capacity = (size_t)(v->kernel_to_app.len / 8);
    return 0;
fail_to_kernel:
    PyBuffer_Release(&v->to_kernel);
fail_latency:
    PyBuffer_Release(&v->latency);
fail_seen:
    PyBuffer_Release(&v->seen);
    return -1;
}

static void record_release(struct record_views *v)
{
    if (v->have_arrays) {
        PyBuffer_Release(&v->latency);
        PyBuffer_Release(&v->to_kernel);
        PyBuffer_Release(&v->kernel_to_app);
    }
    PyBuffer_Release(&v->seen);
}

static PyObject *rx_result(int rc, const struct rxt_rx_stats *st)
{
    if (rc < 0) {
        errno = -rc;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return Py_BuildValue("{s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K}",
                         "packets", (unsigned long long)st->packets,
                         "calls", (unsigned long long)st->calls,
                         "duplicates", (unsigned long long)st->duplicates,
                         "reordered", (unsigned long long)st->reordered,
                         "foreign", (unsigned long long)st->foreign,
                         "highest_seq", (unsigned long long)st->highest_seq,
                         "ring_drops", (unsigned long long)st->ring_drops,
                         "socket_overflows", (unsigned long long)st->socket_overflows);
}

/* The shared body of every receive wrapper: build the record, run the loop without the
 * GIL, release the buffers. `call` uses the names rec and st. */
#define RUN_RECEIVER(latency, to_kernel, k2a, seen, offset, port, call)                    \
    do {                                                                                \
        struct rxt_rx_record rec;                                                       \
        struct record_views views;                                                      \
        struct rxt_rx_stats st;                                                         \
        int rc;                                                                         \
        if (record_from_python(latency, to_kernel, k2a, seen, offset, port, &rec,        \
                               &views) < 0)                                             \
            return NULL;                                                                \
        Py_BEGIN_ALLOW_THREADS                                                          \
        rc = (call);                                                                    \
        Py_END_ALLOW_THREADS                                                            \
        record_release(&views);                                                         \
        return rx_result(rc, &st);                                                      \
    } while (0)

static PyObject *engine_send_load(PyObject *self, PyObject *args)
{
    PyObject *fd_list;
    Py_ssize_t message_size;
    unsigned long long rate;
    long long duration;
    int batch;
    if (!PyArg_ParseTuple(args, "OnKLi", &fd_list, &message_size, &rate, &duration, &batch))
        return NULL;
    PyObject *seq = PySequence_Fast(fd_list, "fds must be a sequence");
    if (!seq)
        return NULL;
    Py_ssize_t nfds = PySequence_Fast_GET_SIZE(seq);
    if (nfds < 1 || nfds > 64) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "1..64 flows");
        return NULL;
    }
    int fds[64];
    for (Py_ssize_t i = 0; i < nfds; i++)
        fds[i] = (int)PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, i));
    Py_DECREF(seq);
    if (PyErr_Occurred())
        return NULL;
    struct rxt_send_stats out;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = rxt_send_load(fds, (int)nfds, (size_t)message_size, rate, duration, batch, &out);
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        errno = -rc;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return Py_BuildValue("{s:K,s:K,s:K,s:L}", "sent", (unsigned long long)out.sent, "errors",
                         (unsigned long long)out.errors, "late", (unsigned long long)out.late,
                         "elapsed_ns", (long long)out.elapsed_ns);
}

static PyObject *engine_rx_socket(PyObject *self, PyObject *args)
{
    int fd, epfd, wait, batch;
    long long deadline, offset;
    PyObject *a, *b, *c, *seen;
    if (!PyArg_ParseTuple(args, "iiiiLOOOOL", &fd, &epfd, &wait, &batch, &deadline, &a, &b, &c,
                          &seen, &offset))
        return NULL;
    RUN_RECEIVER(a, b, c, seen, offset, 0,
                 rxt_rx_socket(fd, epfd, (enum rxt_wait)wait, batch, deadline, &rec, &st));
}

static PyObject *engine_rx_uring(PyObject *self, PyObject *args)
{
    int fd, prefer;
    unsigned entries, buffers, napi_us;
    Py_ssize_t buffer_size;
    long long deadline, offset;
    PyObject *a, *b, *c, *seen;
    if (!PyArg_ParseTuple(args, "iIInIiLOOOOL", &fd, &entries, &buffers, &buffer_size, &napi_us,
                          &prefer, &deadline, &a, &b, &c, &seen, &offset))
        return NULL;
    RUN_RECEIVER(a, b, c, seen, offset, 0,
                 rxt_rx_uring(fd, entries, buffers, (size_t)buffer_size, napi_us, prefer, deadline, &rec, &st));
}

static PyObject *engine_rx_tpacket(PyObject *self, PyObject *args)
{
    int fd, port;
    unsigned block_size, block_count, timeout_ms;
    long long deadline, offset;
    PyObject *a, *b, *c, *seen;
    if (!PyArg_ParseTuple(args, "iIIIiLOOOOL", &fd, &block_size, &block_count, &timeout_ms, &port,
                          &deadline, &a, &b, &c, &seen, &offset))
        return NULL;
    RUN_RECEIVER(a, b, c, seen, offset, port,
                 rxt_rx_tpacket(fd, block_size, block_count, timeout_ms, deadline, &rec, &st));
}

static PyObject *engine_xdp_prog_load(PyObject *self, PyObject *args)
{
    int prog_fd, map_fd;
    char log[4096] = "";
    int rc = rxt_xdp_prog_load(&prog_fd, &map_fd, log, sizeof(log));
    if (rc < 0) {
        errno = -rc;
        PyErr_SetFromErrnoWithFilename(PyExc_OSError, log[0] ? log : "bpf(BPF_PROG_LOAD)");
        return NULL;
    }
    return Py_BuildValue("(ii)", prog_fd, map_fd);
}

static void xsk_capsule_free(PyObject *capsule)
{
    rxt_xsk_close(PyCapsule_GetPointer(capsule, "rxtune.xsk"));
}

static PyObject *engine_xsk_open(PyObject *self, PyObject *args)
{
    int ifindex, map_fd;
    unsigned queue, frames;
    if (!PyArg_ParseTuple(args, "iIiI", &ifindex, &queue, &map_fd, &frames))
        return NULL;
    struct rxt_xsk *xsk;
    int rc = rxt_xsk_open(ifindex, queue, map_fd, frames, &xsk);
    if (rc < 0) {
        errno = -rc;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyCapsule_New(xsk, "rxtune.xsk", xsk_capsule_free);
}

static PyObject *engine_rx_xdp(PyObject *self, PyObject *args)
{
    PyObject *capsule, *a, *b, *c, *seen;
    int poll_mode, port;
    long long deadline;
    if (!PyArg_ParseTuple(args, "OiiLOOOO", &capsule, &poll_mode, &port, &deadline, &a, &b, &c, &seen))
        return NULL;
    struct rxt_xsk *xsk = PyCapsule_GetPointer(capsule, "rxtune.xsk");
    if (!xsk)
        return NULL;
    RUN_RECEIVER(a, b, c, seen, 0, port,
                 rxt_rx_xdp(xsk, poll_mode, deadline, &rec, &st));
}

/* CLOCK_REALTIME - CLOCK_MONOTONIC, bracketed tightly: the best of many tries, so kernel
 * RX stamps (realtime) convert to the sender's monotonic clock to within ~100 ns. */
static PyObject *engine_clock_offset(PyObject *self, PyObject *args)
{
    int64_t best_width = INT64_MAX, offset = 0;
    for (int i = 0; i < 1000; i++) {
        int64_t before = rxt_now(CLOCK_MONOTONIC);
        int64_t real = rxt_now(CLOCK_REALTIME);
        int64_t after = rxt_now(CLOCK_MONOTONIC);
        if (after - before < best_width) {
            best_width = after - before;
            offset = real - (before + (after - before) / 2);
        }
    }
    return PyLong_FromLongLong(offset);
}

static PyMethodDef methods[] = {
    {"reflect", engine_reflect, METH_VARARGS,
     "reflect(fd, epfd, wait, deadline_ns, one_way, to_kernel, kernel_to_app) -> counts\n"
     "Receive with `wait`, record one-way latency and its split, echo each packet."},
    {"ping", engine_ping, METH_VARARGS,
     "ping(fd, epfd, wait, deadline_ns, message_size, count, warmup, reply_timeout_ns, rtt,\n"
     "     kernel_to_app=None) -> counts\n"
     "Send stamped packets one at a time, record each round trip."},
    {"clock_offset", engine_clock_offset, METH_NOARGS,
     "clock_offset() -> CLOCK_REALTIME minus CLOCK_MONOTONIC in ns, tightly bracketed"},
    {"send_load", engine_send_load, METH_VARARGS,
     "send_load(fds, message_size, rate_pps, duration_ns, batch) -> stats\n"
     "Offer a paced load (rate > 0) or flood with sendmmsg batches, round robin over flows."},
    {"rx_socket", engine_rx_socket, METH_VARARGS,
     "rx_socket(fd, epfd, wait, batch, deadline_ns, latency, to_kernel, kernel_to_app, seen,\n"
     "          real_minus_mono) -> stats   (batch 1: recvmsg; more: recvmmsg)"},
    {"rx_uring", engine_rx_uring, METH_VARARGS,
     "rx_uring(fd, entries, buffers, buffer_size, napi_busy_poll_us, prefer, deadline_ns,\n"
     "         latency, to_kernel, kernel_to_app, seen, real_minus_mono) -> stats"},
    {"rx_tpacket", engine_rx_tpacket, METH_VARARGS,
     "rx_tpacket(fd, block_size, block_count, timeout_ms, port, deadline_ns, latency,\n"
     "           to_kernel, kernel_to_app, seen, real_minus_mono) -> stats"},
    {"xdp_prog_load", engine_xdp_prog_load, METH_NOARGS,
     "xdp_prog_load() -> (prog_fd, xskmap_fd): the redirect-to-XSK program"},
    {"xsk_open", engine_xsk_open, METH_VARARGS,
     "xsk_open(ifindex, queue, xskmap_fd, frames) -> xsk (copy mode, need-wakeup)"},
    {"rx_xdp", engine_rx_xdp, METH_VARARGS,
     "rx_xdp(xsk, poll_mode, port, deadline_ns, latency, to_kernel, kernel_to_app, seen) -> stats"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_engine",
                                    "rxtune's hot loops", -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__engine(void)
{
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    PyModule_AddIntConstant(m, "WAIT_BLOCK", RXT_WAIT_BLOCK);
    PyModule_AddIntConstant(m, "WAIT_POLL", RXT_WAIT_POLL);
    PyModule_AddIntConstant(m, "WAIT_EPOLL", RXT_WAIT_EPOLL);
    PyModule_AddIntConstant(m, "WAIT_SPIN", RXT_WAIT_SPIN);
    PyModule_AddIntConstant(m, "MIN_MESSAGE", RXT_MIN_MESSAGE);
    PyModule_AddIntConstant(m, "EPIOCSPARAMS", (long)RXT_EPIOCSPARAMS);
    return m;
}
