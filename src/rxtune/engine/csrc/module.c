/* The Python face of the engine: argument parsing and buffers only. The loops release the
 * GIL; C returns plain numbers and Python names them. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "pingpong.h"

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

static PyMethodDef methods[] = {
    {"reflect", engine_reflect, METH_VARARGS,
     "reflect(fd, epfd, wait, deadline_ns, one_way, to_kernel, kernel_to_app) -> counts\n"
     "Receive with `wait`, record one-way latency and its split, echo each packet."},
    {"ping", engine_ping, METH_VARARGS,
     "ping(fd, epfd, wait, deadline_ns, message_size, count, warmup, reply_timeout_ns, rtt,\n"
     "     kernel_to_app=None) -> counts\n"
     "Send stamped packets one at a time, record each round trip."},
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
