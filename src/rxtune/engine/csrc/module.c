/* The Python face of the engine: argument parsing and buffers only. The loops release the
 * GIL; C returns plain numbers and Python names them. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "load.h"
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

/* The per-packet record of the load receivers: four int64 arrays (None: count only) and a
 * byte bitmap of seen sequence numbers. */
#define RECORD_ARRAYS 4
static const char *const record_names[RECORD_ARRAYS] = {"latency", "send_delay", "to_stamp",
                                                        "stamp_to_app"};
struct record_views {
    Py_buffer arrays[RECORD_ARRAYS], seen;
    int have_arrays;
};

static int record_from_python(PyObject *arrays, PyObject *seen, long long offset, int port,
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
    if (arrays == Py_None)
        return 0;
    if (!PyTuple_Check(arrays) || PyTuple_GET_SIZE(arrays) != RECORD_ARRAYS) {
        PyErr_SetString(PyExc_TypeError, "arrays must be None or a tuple of 4 int64 arrays");
        PyBuffer_Release(&v->seen);
        return -1;
    }
    int64_t *bufs[RECORD_ARRAYS];
    rec->capacity = SIZE_MAX;
    for (int i = 0; i < RECORD_ARRAYS; i++) {
        if (int64_buffer(PyTuple_GET_ITEM(arrays, i), &v->arrays[i], record_names[i]) < 0) {
            while (i--)
                PyBuffer_Release(&v->arrays[i]);
            PyBuffer_Release(&v->seen);
            return -1;
        }
        bufs[i] = v->arrays[i].buf;
        if ((size_t)(v->arrays[i].len / 8) < rec->capacity)
            rec->capacity = (size_t)(v->arrays[i].len / 8);
    }
    v->have_arrays = 1;
    rec->latency = bufs[0];
    rec->send_delay = bufs[1];
    rec->to_stamp = bufs[2];
    rec->stamp_to_app = bufs[3];
    return 0;
}

static void record_release(struct record_views *v)
{
    if (v->have_arrays)
        for (int i = 0; i < RECORD_ARRAYS; i++)
            PyBuffer_Release(&v->arrays[i]);
    PyBuffer_Release(&v->seen);
}

static PyObject *rx_result(int rc, const struct rxt_rx_stats *st)
{
    if (rc < 0) {
        errno = -rc;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return Py_BuildValue("{s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:L,s:L}",
                         "packets", (unsigned long long)st->packets,
                         "calls", (unsigned long long)st->calls,
                         "duplicates", (unsigned long long)st->duplicates,
                         "reordered", (unsigned long long)st->reordered,
                         "foreign", (unsigned long long)st->foreign,
                         "highest_seq", (unsigned long long)st->highest_seq,
                         "ring_drops", (unsigned long long)st->ring_drops,
                         "socket_overflows", (unsigned long long)st->socket_overflows,
                         "first_ns", (long long)st->first_ns, "last_ns", (long long)st->last_ns);
}

/* The shared body of every receive wrapper: build the record, run the loop without the
 * GIL, release the buffers. `call` uses the names rec and st. */
#define RUN_RECEIVER(arrays, seen, offset, port, call)                                   \
    do {                                                                                \
        struct rxt_rx_record rec;                                                       \
        struct record_views views;                                                      \
        struct rxt_rx_stats st;                                                         \
        int rc;                                                                         \
        if (record_from_python(arrays, seen, offset, port, &rec, &views) < 0)           \
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
    struct rxt_stall stall = {0, 0};
    if (!PyArg_ParseTuple(args, "OnKLi|(LL)", &fd_list, &message_size, &rate, &duration, &batch,
                          &stall.at_ns, &stall.length_ns))
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
    rc = rxt_send_load(fds, (int)nfds, (size_t)message_size, rate, duration, batch, stall, &out);
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        errno = -rc;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return Py_BuildValue("{s:K,s:K,s:K,s:L,s:L}", "sent", (unsigned long long)out.sent,
                         "errors", (unsigned long long)out.errors, "late",
                         (unsigned long long)out.late, "started_ns", (long long)out.started_ns,
                         "elapsed_ns", (long long)out.elapsed_ns);
}

static PyObject *engine_rx_socket(PyObject *self, PyObject *args)
{
    int fd, epfd, wait, batch;
    long long deadline, offset;
    PyObject *arrays, *seen;
    if (!PyArg_ParseTuple(args, "iiiiLOOL", &fd, &epfd, &wait, &batch, &deadline, &arrays, &seen,
                          &offset))
        return NULL;
    RUN_RECEIVER(arrays, seen, offset, 0,
                 rxt_rx_socket(fd, epfd, (enum rxt_wait)wait, batch, deadline, &rec, &st));
}

static PyObject *engine_rx_uring(PyObject *self, PyObject *args)
{
    int fd, prefer;
    unsigned entries, buffers, napi_us, wait_nr, min_wait_us, setup_flags;
    Py_ssize_t buffer_size;
    long long deadline, offset;
    PyObject *arrays, *seen;
    if (!PyArg_ParseTuple(args, "iIInIiIIILOOL", &fd, &entries, &buffers, &buffer_size, &napi_us,
                          &prefer, &wait_nr, &min_wait_us, &setup_flags, &deadline, &arrays,
                          &seen, &offset))
        return NULL;
    RUN_RECEIVER(arrays, seen, offset, 0,
                 rxt_rx_uring(fd, entries, buffers, (size_t)buffer_size, napi_us, prefer,
                              wait_nr, min_wait_us, setup_flags, deadline, &rec, &st));
}

static PyObject *engine_rx_tpacket(PyObject *self, PyObject *args)
{
    int fd, port;
    unsigned block_size, block_count, timeout_ms;
    long long deadline, offset;
    PyObject *arrays, *seen;
    if (!PyArg_ParseTuple(args, "iIIIiLOOL", &fd, &block_size, &block_count, &timeout_ms, &port,
                          &deadline, &arrays, &seen, &offset))
        return NULL;
    RUN_RECEIVER(arrays, seen, offset, port,
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

static PyObject *engine_xdp_drop_prog_load(PyObject *self, PyObject *args)
{
    int prog_fd;
    int rc = rxt_xdp_drop_prog_load(&prog_fd);
    if (rc < 0) {
        errno = -rc;
        return PyErr_SetFromErrnoWithFilename(PyExc_OSError, "bpf(BPF_PROG_LOAD)");
    }
    return PyLong_FromLong(prog_fd);
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
    PyObject *capsule, *arrays, *seen;
    int poll_mode, port;
    long long deadline;
    if (!PyArg_ParseTuple(args, "OiiLOO", &capsule, &poll_mode, &port, &deadline, &arrays, &seen))
        return NULL;
    struct rxt_xsk *xsk = PyCapsule_GetPointer(capsule, "rxtune.xsk");
    if (!xsk)
        return NULL;
    RUN_RECEIVER(arrays, seen, 0, port,
                 rxt_rx_xdp(xsk, poll_mode, deadline, &rec, &st));
}

static void account_capsule_free(PyObject *capsule)
{
    rxt_account_close(PyCapsule_GetPointer(capsule, "rxtune.account"));
}

static PyObject *engine_account_open(PyObject *self, PyObject *args)
{
    int ncpus, napi_threads, stats;
    if (!PyArg_ParseTuple(args, "ipp", &ncpus, &napi_threads, &stats))
        return NULL;
    struct rxt_account *acct;
    char log[4096] = "";
    int rc = rxt_account_open(ncpus, napi_threads, stats, &acct, log, sizeof(log));
    if (rc < 0) {
        errno = -rc;
        return PyErr_SetFromErrnoWithFilename(PyExc_OSError, log[0] ? log : "bpf(2)");
    }
    PyObject *capsule = PyCapsule_New(acct, "rxtune.account", account_capsule_free);
    if (!capsule)
        rxt_account_close(acct);
    return capsule;
}

static PyObject *engine_account_read(PyObject *self, PyObject *args)
{
    PyObject *capsule;
    int ncpus;
    if (!PyArg_ParseTuple(args, "Oi", &capsule, &ncpus))
        return NULL;
    struct rxt_account *acct = PyCapsule_GetPointer(capsule, "rxtune.account");
    if (!acct)
        return NULL;
    struct rxt_cpu_account *values = calloc((size_t)ncpus, sizeof(*values));
    if (!values)
        return PyErr_NoMemory();
    int64_t now;
    int rc = rxt_account_read(acct, values, &now);
    if (rc < 0) {
        free(values);
        errno = -rc;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    PyObject *rows = PyList_New(ncpus);
    for (int c = 0; rows && c < ncpus; c++) {
        const struct rxt_cpu_account *v = &values[c];
        PyObject *row = Py_BuildValue("(KKKK)", (unsigned long long)v->net_rx_ns,
                                      (unsigned long long)v->net_rx_count,
                                      (unsigned long long)v->idle_ns,
                                      (unsigned long long)v->napi_thread_ns);
        if (!row) {
            Py_CLEAR(rows);
            break;
        }
        PyList_SET_ITEM(rows, c, row);
    }
    free(values);
    return rows ? Py_BuildValue("(LN)", (long long)now, rows) : NULL;
}

static PyObject *engine_account_overhead(PyObject *self, PyObject *args)
{
    PyObject *capsule;
    if (!PyArg_ParseTuple(args, "O", &capsule))
        return NULL;
    struct rxt_account *acct = PyCapsule_GetPointer(capsule, "rxtune.account");
    if (!acct)
        return NULL;
    uint64_t run_time, count;
    int rc = rxt_account_overhead(acct, &run_time, &count);
    if (rc < 0) {
        errno = -rc;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return Py_BuildValue("(KK)", (unsigned long long)run_time, (unsigned long long)count);
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
     "send_load(fds, message_size, rate_pps, duration_ns, batch, stall=(at_ns, length_ns))\n"
     "          -> stats\n"
     "Offer a paced load (rate > 0) or flood with sendmmsg batches, round robin over flows;\n"
     "each packet carries its intended send time (its slot) and how late it left."},
    {"rx_socket", engine_rx_socket, METH_VARARGS,
     "rx_socket(fd, epfd, wait, batch, deadline_ns, arrays, seen, real_minus_mono) -> stats\n"
     "(batch 1: recvmsg; more: recvmmsg). arrays: None or (latency, send_delay, to_stamp,\n"
     "stamp_to_app) int64 arrays, one entry per packet in arrival order."},
    {"rx_uring", engine_rx_uring, METH_VARARGS,
     "rx_uring(fd, entries, buffers, buffer_size, napi_busy_poll_us, prefer, wait_nr,\n"
     "         min_wait_us, setup_flags, deadline_ns, arrays, seen, real_minus_mono) -> stats"},
    {"rx_tpacket", engine_rx_tpacket, METH_VARARGS,
     "rx_tpacket(fd, block_size, block_count, timeout_ms, port, deadline_ns, arrays, seen,\n"
     "           real_minus_mono) -> stats"},
    {"xdp_prog_load", engine_xdp_prog_load, METH_NOARGS,
     "xdp_prog_load() -> (prog_fd, xskmap_fd): the redirect-to-XSK program"},
    {"xdp_drop_prog_load", engine_xdp_drop_prog_load, METH_NOARGS,
     "xdp_drop_prog_load() -> prog_fd: a program that drops every frame"},
    {"xsk_open", engine_xsk_open, METH_VARARGS,
     "xsk_open(ifindex, queue, xskmap_fd, frames) -> xsk (copy mode, need-wakeup)"},
    {"rx_xdp", engine_rx_xdp, METH_VARARGS,
     "rx_xdp(xsk, poll_mode, port, deadline_ns, arrays, seen) -> stats"},
    {"account_open", engine_account_open, METH_VARARGS,
     "account_open(ncpus, napi_threads, stats) -> account: attach the receive-accounting\n"
     "BPF programs (NET_RX softirq, idle, NAPI kthread time per CPU)"},
    {"account_read", engine_account_read, METH_VARARGS,
     "account_read(account, ncpus) -> (now_ns, [(net_rx_ns, net_rx_count, idle_ns,\n"
     "                                          napi_thread_ns)] per CPU)"},
    {"account_overhead", engine_account_overhead, METH_VARARGS,
     "account_overhead(account) -> (run_time_ns, run_count) of the programs themselves"},
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
    PyModule_AddIntConstant(m, "IORING_SETUP_COOP_TASKRUN", RXT_IORING_SETUP_COOP_TASKRUN);
    PyModule_AddIntConstant(m, "IORING_SETUP_SINGLE_ISSUER", RXT_IORING_SETUP_SINGLE_ISSUER);
    PyModule_AddIntConstant(m, "IORING_SETUP_DEFER_TASKRUN", RXT_IORING_SETUP_DEFER_TASKRUN);
    return m;
}
