/* The Python face of the engine: argument parsing and buffers only. The loops release the
 * GIL; C returns plain numbers and Python names them. */
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "account.h"
#include "drops.h"
#include "load.h"
#include "pingpong.h"
#include "rxobject.h"
#include "xdp.h"

int rxt_int64_buffer(PyObject *obj, Py_buffer *view, const char *what)
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
    return Py_BuildValue("{s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K}", "sent",
                         (unsigned long long)c->sent, "received",
                         (unsigned long long)c->received, "reordered",
                         (unsigned long long)c->reordered, "timeouts",
                         (unsigned long long)c->timeouts, "send_errors",
                         (unsigned long long)c->send_errors, "highest_seq",
                         (unsigned long long)c->highest_seq, "foreign",
                         (unsigned long long)c->foreign, "over_rate",
                         (unsigned long long)c->over_rate);
}

static PyObject *engine_reflect(PyObject *self, PyObject *args)
{
    struct rxt_loop loop = {0};
    struct rxt_echo_rule rule = {0};
    int wait, from_port = 0;
    long long deadline;
    unsigned long long cookie = 0, max_pps = 0;
    const char *from = NULL;
    PyObject *a, *b, *c;
    if (!PyArg_ParseTuple(args, "iiiLOOO|KziK", &loop.fd, &loop.epfd, &wait, &deadline, &a, &b,
                          &c, &cookie, &from, &from_port, &max_pps))
        return NULL;
    if (from) {
        rule.from.sin_family = AF_INET;
        if (inet_pton(AF_INET, from, &rule.from.sin_addr) != 1 || from_port < 0 ||
            from_port > 65535) {
            PyErr_Format(PyExc_ValueError, "echo_from %s:%d is not an IPv4 address and port",
                         from, from_port);
            return NULL;
        }
        rule.from.sin_port = htons((uint16_t)from_port);
    }
    rule.max_pps = max_pps;
    loop.cookie = cookie;
    loop.wait = (enum rxt_wait)wait;
    loop.deadline_ns = deadline;
    Py_buffer va, vb, vc;
    if (rxt_int64_buffer(a, &va, "one_way") < 0)
        return NULL;
    if (rxt_int64_buffer(b, &vb, "to_kernel") < 0) {
        PyBuffer_Release(&va);
        return NULL;
    }
    if (rxt_int64_buffer(c, &vc, "kernel_to_app") < 0) {
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
    rc = rxt_reflect(&loop, &rule, &out, &counts);
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
    struct rxt_loop loop = {0};
    int wait;
    long long deadline, reply_timeout;
    Py_ssize_t message_size;
    unsigned long long count, cookie = 0;
    int warmup;
    PyObject *rtt, *wake = Py_None;
    if (!PyArg_ParseTuple(args, "iiiLnKpLO|OK", &loop.fd, &loop.epfd, &wait, &deadline,
                          &message_size, &count, &warmup, &reply_timeout, &rtt, &wake, &cookie))
        return NULL;
    loop.cookie = cookie;
    if (message_size < RXT_MIN_MESSAGE || message_size > 65000) {
        PyErr_Format(PyExc_ValueError, "message size must be %d..65000 bytes", RXT_MIN_MESSAGE);
        return NULL;
    }
    loop.wait = (enum rxt_wait)wait;
    loop.deadline_ns = deadline;
    Py_buffer view, wake_view = {0};
    if (rxt_int64_buffer(rtt, &view, "rtt") < 0)
        return NULL;
    struct rxt_samples out = {view.buf, NULL, NULL, (size_t)(view.len / 8)};
    if (wake != Py_None) {
        if (rxt_int64_buffer(wake, &wake_view, "kernel_to_app") < 0) {
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

static void drops_capsule_free(PyObject *capsule)
{
    rxt_drops_close(PyCapsule_GetPointer(capsule, "rxtune.drops"));
}

static PyObject *engine_drops_open(PyObject *self, PyObject *args)
{
    int ncpus;
    if (!PyArg_ParseTuple(args, "i", &ncpus))
        return NULL;
    struct rxt_drops *drops;
    char log[4096] = "";
    int rc = rxt_drops_open(ncpus, &drops, log, sizeof(log));
    if (rc < 0) {
        errno = -rc;
        return PyErr_SetFromErrnoWithFilename(PyExc_OSError, log[0] ? log : "bpf(2)");
    }
    PyObject *capsule = PyCapsule_New(drops, "rxtune.drops", drops_capsule_free);
    if (!capsule)
        rxt_drops_close(drops);
    return capsule;
}

/* {reason slot: count} of the slots that counted anything */
static PyObject *engine_drops_read(PyObject *self, PyObject *capsule)
{
    struct rxt_drops *drops = PyCapsule_GetPointer(capsule, "rxtune.drops");
    if (!drops)
        return NULL;
    uint64_t counts[RXT_DROP_SLOTS];
    int rc = rxt_drops_read(drops, counts);
    if (rc < 0) {
        errno = -rc;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    PyObject *found = PyDict_New();
    for (int slot = 0; found && slot < RXT_DROP_SLOTS; slot++) {
        if (!counts[slot])
            continue;
        PyObject *key = PyLong_FromLong(slot);
        PyObject *value = PyLong_FromUnsignedLongLong(counts[slot]);
        if (!key || !value || PyDict_SetItem(found, key, value) < 0)
            Py_CLEAR(found);
        Py_XDECREF(key);
        Py_XDECREF(value);
    }
    return found;
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
     "reflect(fd, epfd, wait, deadline_ns, one_way, to_kernel, kernel_to_app, cookie=0,\n"
     "        echo_from=None, echo_from_port=0, max_pps=0) -> counts\n"
     "Receive with `wait`, record one-way latency and its split, echo each packet that\n"
     "carries the cookie (from echo_from only, at most max_pps, when given)."},
    {"ping", engine_ping, METH_VARARGS,
     "ping(fd, epfd, wait, deadline_ns, message_size, count, warmup, reply_timeout_ns, rtt,\n"
     "     kernel_to_app=None, cookie=0) -> counts\n"
     "Send stamped packets one at a time, record each round trip."},
    {"clock_offset", engine_clock_offset, METH_NOARGS,
     "clock_offset() -> CLOCK_REALTIME minus CLOCK_MONOTONIC in ns, tightly bracketed"},
    {"send_load", engine_send_load, METH_VARARGS,
     "send_load(fds, message_size, rate_pps, duration_ns, batch, stall=(at_ns, length_ns))\n"
     "          -> stats\n"
     "Offer a paced load (rate > 0) or flood with sendmmsg batches, round robin over flows;\n"
     "each packet carries its intended send time (its slot) and how late it left."},
    {"xdp_prog_load", engine_xdp_prog_load, METH_NOARGS,
     "xdp_prog_load() -> (prog_fd, xskmap_fd): the redirect-to-XSK program"},
    {"xdp_drop_prog_load", engine_xdp_drop_prog_load, METH_NOARGS,
     "xdp_drop_prog_load() -> prog_fd: a program that drops every frame"},
    {"drops_open", engine_drops_open, METH_VARARGS,
     "drops_open(ncpus) -> drops: attach the BPF program that counts dropped packets by\n"
     "drop reason (the kfree_skb tracepoint)"},
    {"drops_read", engine_drops_read, METH_O,
     "drops_read(drops) -> {reason: count}: the drops so far, summed over CPUs; reasons at\n"
     "or past DROP_SLOTS - 1 share that slot"},
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
    if (PyType_Ready(&rxt_RxType) < 0 || PyType_Ready(&rxt_BatchType) < 0 ||
        rxt_batch_iter_ready() < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    if (PyModule_AddFunctions(m, rxt_rx_methods) < 0 ||
        PyModule_AddObjectRef(m, "Rx", (PyObject *)&rxt_RxType) < 0 ||
        PyModule_AddObjectRef(m, "Batch", (PyObject *)&rxt_BatchType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    PyModule_AddIntConstant(m, "DROP_SLOTS", RXT_DROP_SLOTS);
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
