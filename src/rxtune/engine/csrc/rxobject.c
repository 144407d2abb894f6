#include "rxobject.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>

#include "rx.h"
#include "xdp.h"

typedef struct PayloadObject PayloadObject;

typedef struct {
    PyObject_HEAD
    struct rxt_rx *rx;
    PayloadObject **payloads; /* one view object per packet slot, reused while unshared */
    unsigned capacity;
    uint64_t generation;  /* bumped at each release: views and batches of an older one raise */
    uint64_t packets, batches;
    int busy;             /* a call runs without the GIL */
} RxObject;

/* A packet's payload, read in place: a read-only bytes-like view into the receiver's
 * buffer or ring, valid until its batch is released (then it raises). It exports the
 * buffer protocol (memoryview(p), bytes(p), np.frombuffer(p)) and counts the exports, so
 * the ring is not given back while one lives. */
struct PayloadObject {
    PyObject_HEAD
    RxObject *owner;
    const char *data;
    Py_ssize_t len;
    Py_ssize_t exports;
    uint64_t generation;
};

static PyTypeObject PayloadType;

typedef struct {
    PyObject_HEAD
    RxObject *owner;
    uint64_t generation;
    unsigned count;
} BatchObject;

static PyObject *frombuffer; /* numpy.frombuffer, imported at first use */

static PyObject *os_error(int rc)
{
    errno = -rc;
    return PyErr_SetFromErrno(PyExc_OSError);
}

static PyObject *new_rx(int rc, struct rxt_rx *opened)
{
    if (rc < 0)
        return os_error(rc);
    RxObject *self = PyObject_GC_New(RxObject, &rxt_RxType);
    if (!self) {
        rxt_rx_close(opened);
        return NULL;
    }
    self->rx = opened;
    self->payloads = PyMem_Calloc(opened->capacity, sizeof(PayloadObject *));
    self->capacity = opened->capacity;
    self->generation = 1;
    self->packets = self->batches = 0;
    self->busy = 0;
    PyObject_GC_Track(self);
    if (!self->payloads) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    return (PyObject *)self;
}

static PyObject *open_socket(PyObject *mod, PyObject *args)
{
    int fd, epfd, wait;
    unsigned capacity;
    Py_ssize_t buffer_size;
    if (!PyArg_ParseTuple(args, "iiiIn", &fd, &epfd, &wait, &capacity, &buffer_size))
        return NULL;
    struct rxt_rx *rx = NULL;
    int rc = rxt_rx_open_socket(fd, epfd, (enum rxt_wait)wait, capacity, (size_t)buffer_size, &rx);
    return new_rx(rc, rx);
}

static PyObject *open_uring(PyObject *mod, PyObject *args)
{
    int fd, prefer;
    unsigned capacity, entries, buffers, napi_us, wait_nr, min_wait_us, setup_flags;
    Py_ssize_t buffer_size;
    if (!PyArg_ParseTuple(args, "iIIInIiIII", &fd, &capacity, &entries, &buffers, &buffer_size,
                          &napi_us, &prefer, &wait_nr, &min_wait_us, &setup_flags))
        return NULL;
    struct rxt_rx *rx = NULL;
    int rc = rxt_rx_open_uring(fd, capacity, entries, buffers, (size_t)buffer_size, napi_us,
                               prefer, wait_nr, min_wait_us, setup_flags, &rx);
    return new_rx(rc, rx);
}

static PyObject *open_tpacket(PyObject *mod, PyObject *args)
{
    int fd, port;
    unsigned capacity, block_size, block_count, timeout_ms;
    if (!PyArg_ParseTuple(args, "iIIIIi", &fd, &capacity, &block_size, &block_count, &timeout_ms,
                          &port))
        return NULL;
    struct rxt_rx *rx = NULL;
    int rc = rxt_rx_open_tpacket(fd, capacity, block_size, block_count, timeout_ms,
                                 (uint16_t)port, &rx);
    return new_rx(rc, rx);
}

static PyObject *open_xdp(PyObject *mod, PyObject *args)
{
    int ifindex, map_fd, poll_mode, port;
    unsigned queue, frames, capacity;
    if (!PyArg_ParseTuple(args, "iIiIIii", &ifindex, &queue, &map_fd, &frames, &capacity,
                          &poll_mode, &port))
        return NULL;
    struct rxt_xsk *xsk;
    int rc = rxt_xsk_open(ifindex, queue, map_fd, frames, &xsk);
    if (rc < 0)
        return os_error(rc);
    struct rxt_rx *rx = NULL;
    rc = rxt_rx_open_xdp(xsk, capacity, poll_mode, (uint16_t)port, &rx);
    if (rc < 0)
        rxt_xsk_close(xsk);
    return new_rx(rc, rx);
}

static PyObject *xdp_link(PyObject *mod, PyObject *args)
{
    int prog_fd, ifindex;
    unsigned flags;
    if (!PyArg_ParseTuple(args, "iiI", &prog_fd, &ifindex, &flags))
        return NULL;
    int fd = rxt_xdp_link(prog_fd, ifindex, flags);
    return fd < 0 ? os_error(fd) : PyLong_FromLong(fd);
}

static int open_or_raise(RxObject *self)
{
    if (!self->rx)
        PyErr_SetString(PyExc_ValueError, "the receiver is closed");
    return self->rx != NULL;
}

static int usable(RxObject *self)
{
    if (!self->rx) {
        PyErr_SetString(PyExc_ValueError, "the receiver is closed");
        return 0;
    }
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "another thread is receiving on this receiver");
        return 0;
    }
    return 1;
}

/* Release the current batch: its payload views raise from now on (their generation is
 * past) and the buffers go back to the ring; refused, changing nothing, while a buffer of a
 * payload is exported (np.frombuffer, a memoryview or a slice of one). */
static int release_batch(RxObject *self)
{
    struct rxt_rx *rx = self->rx;
    for (unsigned i = 0; i < rx->count; i++) {
        PayloadObject *p = self->payloads[i];
        if (p && p->generation == self->generation && p->exports) {
            PyErr_Format(PyExc_BufferError,
                         "payload %u of the last batch is still exported (np.frombuffer or a "
                         "memoryview of it is alive): copy what you keep (bytes(payload)) "
                         "before the next batch",
                         i);
            return -1;
        }
    }
    if (rx->count)
        self->generation++;
    rxt_rx_release(rx);
    return 0;
}

/* Wait for the next batch without the GIL, a slice at a time, so signals (Ctrl-C) are seen
 * between slices. Returns the count (0: timeout) or -1 with an exception set. */
static int next_batch(RxObject *self, unsigned max, PyObject *timeout)
{
    int64_t deadline = INT64_MAX;
    if (timeout != Py_None) {
        double seconds = PyFloat_AsDouble(timeout);
        if (seconds == -1.0 && PyErr_Occurred())
            return -1;
        if (!(seconds >= 0) || seconds > 1e9) {
            PyErr_SetString(PyExc_ValueError, "timeout must be None or 0..1e9 seconds");
            return -1;
        }
        deadline = rxt_now(CLOCK_MONOTONIC) + (int64_t)(seconds * 1e9);
    }
    if (!usable(self) || release_batch(self) < 0)
        return -1;
    if (max > self->rx->capacity) {
        PyErr_Format(PyExc_ValueError, "max must be 1..%u (the receiver's batch)", self->rx->capacity);
        return -1;
    }
    int n;
    self->busy = 1;
    for (;;) {
        Py_BEGIN_ALLOW_THREADS
        n = rxt_rx_next(self->rx, deadline, max);
        Py_END_ALLOW_THREADS
        if (n != 0 || rxt_now(CLOCK_MONOTONIC) >= deadline)
            break;
        if (PyErr_CheckSignals() < 0) {
            self->busy = 0;
            return -1;
        }
    }
    self->busy = 0;
    if (n == -EEXIST) { /* only io_uring's SINGLE_ISSUER says this */
        PyErr_SetString(PyExc_RuntimeError,
                         "an io_uring receiver is read by one thread, the first that received "
                         "(IORING_SETUP_SINGLE_ISSUER)");
        return -1;
    }
    if (n < 0) {
        os_error(n);
        return -1;
    }
    self->packets += (uint64_t)n;
    self->batches += n > 0;
    return n;
}

/* (max, timeout) of recv_batch and (timeout) of recv, positional or by keyword, parsed by
 * hand: at one packet per call, PyArg_ParseTupleAndKeywords costs more than the packet. */
static int parse_wait_args(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                           int takes_max, unsigned *max, PyObject **timeout)
{
    Py_ssize_t positional = takes_max ? 2 : 1;
    if (nargs > positional) {
        PyErr_Format(PyExc_TypeError, "at most %zd positional arguments", positional);
        return -1;
    }
    PyObject *given[2] = {NULL, NULL}; /* max, timeout */
    for (Py_ssize_t i = 0; i < nargs; i++)
        given[takes_max ? i : 1] = args[i];
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, i);
        int slot = takes_max && PyUnicode_CompareWithASCIIString(name, "max") == 0 ? 0
                   : PyUnicode_CompareWithASCIIString(name, "timeout") == 0 ? 1
                                                                             : -1;
        if (slot < 0 || given[slot]) {
            PyErr_Format(PyExc_TypeError, "unexpected or repeated argument '%U' (valid: %s)",
                         name, takes_max ? "max, timeout" : "timeout");
            return -1;
        }
        given[slot] = args[nargs + i];
    }
    if (given[0]) {
        unsigned long value = PyLong_AsUnsignedLong(given[0]);
        if (value == (unsigned long)-1 && PyErr_Occurred())
            return -1;
        *max = value > UINT32_MAX ? UINT32_MAX : (unsigned)value;
    }
    *timeout = given[1] ? given[1] : Py_None;
    return 0;
}

static PyObject *rx_recv_batch(RxObject *self, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames)
{
    unsigned max = 0;
    PyObject *timeout;
    if (parse_wait_args(args, nargs, kwnames, 1, &max, &timeout) < 0)
        return NULL;
    int n = next_batch(self, max ? max : (self->rx ? self->rx->capacity : 1), timeout);
    if (n < 0)
        return NULL;
    BatchObject *batch = PyObject_New(BatchObject, &rxt_BatchType);
    if (!batch)
        return NULL;
    Py_INCREF(self);
    batch->owner = self;
    batch->generation = self->generation;
    batch->count = (unsigned)n;
    return (PyObject *)batch;
}

static PyObject *rx_recv(RxObject *self, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames)
{
    unsigned unused = 0;
    PyObject *timeout;
    if (parse_wait_args(args, nargs, kwnames, 0, &unused, &timeout) < 0)
        return NULL;
    int n = next_batch(self, 1, timeout);
    if (n < 0)
        return NULL;
    if (n == 0) {
        PyErr_SetString(PyExc_TimeoutError, "no datagram");
        return NULL;
    }
    const struct rxt_packet *p = &self->rx->pkts[0];
    PyObject *data = PyBytes_FromStringAndSize(p->data, p->len);
    if (release_batch(self) < 0) {
        Py_XDECREF(data);
        return NULL;
    }
    return data;
}

static PyObject *stats_dict(const struct rxt_rx_stats *st)
{
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

/* The per-packet record of the load receivers: four int64 arrays (None: count only) and a
 * byte bitmap of seen sequence numbers. */
#define RECORD_ARRAYS 4
static const char *const record_names[RECORD_ARRAYS] = {"latency", "send_delay", "to_stamp",
                                                        "stamp_to_app"};

static PyObject *rx_run(RxObject *self, PyObject *args)
{
    long long deadline, offset;
    PyObject *arrays, *seen;
    if (!PyArg_ParseTuple(args, "LOOL", &deadline, &arrays, &seen, &offset))
        return NULL;
    if (!usable(self) || release_batch(self) < 0)
        return NULL;
    struct rxt_rx_record rec;
    memset(&rec, 0, sizeof(rec));
    Py_buffer views[RECORD_ARRAYS], seen_view;
    int have = 0;
    if (arrays != Py_None &&
        (!PyTuple_Check(arrays) || PyTuple_GET_SIZE(arrays) != RECORD_ARRAYS)) {
        PyErr_SetString(PyExc_TypeError, "arrays must be None or a tuple of 4 int64 arrays");
        return NULL;
    }
    if (PyObject_GetBuffer(seen, &seen_view, PyBUF_WRITABLE) < 0)
        return NULL;
    rec.seen = seen_view.buf;
    rec.seen_bits = (uint64_t)seen_view.len * 8;
    rec.real_minus_mono = offset;
    if (arrays != Py_None) {
        int64_t *bufs[RECORD_ARRAYS];
        rec.capacity = SIZE_MAX;
        for (; have < RECORD_ARRAYS; have++) {
            if (rxt_int64_buffer(PyTuple_GET_ITEM(arrays, have), &views[have],
                                 record_names[have]) < 0)
                goto fail;
            bufs[have] = views[have].buf;
            if ((size_t)(views[have].len / 8) < rec.capacity)
                rec.capacity = (size_t)(views[have].len / 8);
        }
        rec.latency = bufs[0];
        rec.send_delay = bufs[1];
        rec.to_stamp = bufs[2];
        rec.stamp_to_app = bufs[3];
    }
    struct rxt_rx_stats st;
    int rc;
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    rc = rxt_rx_run(self->rx, deadline, &rec, &st);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    while (have--)
        PyBuffer_Release(&views[have]);
    PyBuffer_Release(&seen_view);
    if (rc < 0)
        return os_error(rc);
    self->packets += st.packets;
    self->batches += st.calls;
    return stats_dict(&st);
fail:
    while (have--)
        PyBuffer_Release(&views[have]);
    PyBuffer_Release(&seen_view);
    return NULL;
}

/* Counters only: readable while another thread receives. */
static PyObject *rx_stats(RxObject *self, PyObject *unused)
{
    if (!open_or_raise(self))
        return NULL;
    struct rxt_rx *rx = self->rx;
    rx->ops->read_drops(rx);
    return Py_BuildValue("{s:K,s:K,s:K,s:K,s:K,s:K}", "packets",
                         (unsigned long long)self->packets, "batches",
                         (unsigned long long)self->batches, "foreign",
                         (unsigned long long)rx->foreign, "truncated",
                         (unsigned long long)rx->truncated, "socket_overflows",
                         (unsigned long long)rx->socket_overflows, "ring_drops",
                         (unsigned long long)rx->ring_drops);
}

static PyObject *rx_fileno(RxObject *self, PyObject *unused)
{
    if (!open_or_raise(self))
        return NULL;
    int fd = self->rx->ops->fd(self->rx);
    return fd < 0 ? os_error(fd) : PyLong_FromLong(fd);
}

static PyObject *rx_close(RxObject *self, PyObject *unused)
{
    if (!self->rx)
        Py_RETURN_NONE;
    if (!usable(self) || release_batch(self) < 0)
        return NULL;
    rxt_rx_close(self->rx);
    self->rx = NULL;
    Py_RETURN_NONE;
}

static int rx_traverse(RxObject *self, visitproc visit, void *arg)
{
    for (unsigned i = 0; self->payloads && i < self->capacity; i++)
        Py_VISIT(self->payloads[i]);
    return 0;
}

static int rx_clear(RxObject *self)
{
    for (unsigned i = 0; self->payloads && i < self->capacity; i++)
        Py_CLEAR(self->payloads[i]);
    return 0;
}

static void rx_dealloc(RxObject *self)
{
    PyObject_GC_UnTrack(self);
    rx_clear(self);
    if (self->rx) /* no payload view is left: each holds its receiver */
        rxt_rx_close(self->rx);
    PyMem_Free(self->payloads);
    PyObject_GC_Del(self);
}

static PyObject *rx_get_capacity(RxObject *self, void *unused)
{
    return PyLong_FromUnsignedLong(self->rx ? self->rx->capacity : 0);
}

static PyObject *rx_get_closed(RxObject *self, void *unused)
{
    return PyBool_FromLong(self->rx == NULL);
}

static PyMethodDef rx_methods[] = {
    {"recv_batch", (PyCFunction)(void (*)(void))rx_recv_batch, METH_FASTCALL | METH_KEYWORDS,
     "recv_batch(max=capacity, timeout=None) -> Batch\n"
     "Wait the strategy's way for up to max packets (an empty batch after timeout seconds).\n"
     "Releases the previous batch first."},
    {"recv", (PyCFunction)(void (*)(void))rx_recv, METH_FASTCALL | METH_KEYWORDS,
     "recv(timeout=None) -> bytes: one datagram's payload; TimeoutError after timeout"},
    {"run", (PyCFunction)rx_run, METH_VARARGS,
     "run(deadline_ns, arrays, seen, real_minus_mono) -> stats\n"
     "The engine's own loop: batches until the deadline, each packet recorded. arrays: None\n"
     "or (latency, send_delay, to_stamp, stamp_to_app) int64 arrays, in arrival order."},
    {"stats", (PyCFunction)rx_stats, METH_NOARGS,
     "stats() -> packets, batches, foreign, truncated, socket_overflows, ring_drops"},
    {"fileno", (PyCFunction)rx_fileno, METH_NOARGS, "fileno() -> the fd that polls readable"},
    {"close", (PyCFunction)rx_close, METH_NOARGS, "close(): release and free the ring"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef rx_getset[] = {
    {"capacity", (getter)rx_get_capacity, NULL, "most packets in one batch", NULL},
    {"closed", (getter)rx_get_closed, NULL, "whether close() was called", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject rxt_RxType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "rxtune.engine._engine.Rx",
    .tp_basicsize = sizeof(RxObject),
    .tp_dealloc = (destructor)rx_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = (traverseproc)rx_traverse,
    .tp_clear = (inquiry)rx_clear,
    .tp_doc = "A strategy's receive path, opened: batches in, buffers held until released.",
    .tp_methods = rx_methods,
    .tp_getset = rx_getset,
};

/* Payload */

static int payload_live(PayloadObject *self)
{
    if (!self->owner || !self->owner->rx || self->generation != self->owner->generation) {
        PyErr_SetString(PyExc_ValueError,
                        "this payload's batch was released (by release(), the next recv or "
                        "close): copy what you keep (bytes(payload)) before then");
        return 0;
    }
    return 1;
}

static int payload_getbuffer(PayloadObject *self, Py_buffer *view, int flags)
{
    if (!payload_live(self))
        return -1;
    if (PyBuffer_FillInfo(view, (PyObject *)self, (void *)self->data, self->len, 1, flags) < 0)
        return -1;
    self->exports++;
    return 0;
}

static void payload_releasebuffer(PayloadObject *self, Py_buffer *view) { self->exports--; }

static Py_ssize_t payload_len(PayloadObject *self)
{
    return payload_live(self) ? self->len : -1;
}

static PyObject *payload_subscript(PayloadObject *self, PyObject *key)
{
    if (!payload_live(self))
        return NULL;
    if (PyIndex_Check(key)) {
        Py_ssize_t i = PyNumber_AsSsize_t(key, PyExc_IndexError);
        if (i == -1 && PyErr_Occurred())
            return NULL;
        if (i < 0)
            i += self->len;
        if (i < 0 || i >= self->len) {
            PyErr_SetString(PyExc_IndexError, "payload index out of range");
            return NULL;
        }
        return PyLong_FromLong((unsigned char)self->data[i]);
    }
    if (PySlice_Check(key)) { /* a copy: a slice outlives the batch safely */
        Py_ssize_t start, stop, step;
        if (PySlice_Unpack(key, &start, &stop, &step) < 0)
            return NULL;
        Py_ssize_t n = PySlice_AdjustIndices(self->len, &start, &stop, step);
        if (step == 1)
            return PyBytes_FromStringAndSize(self->data + start, n);
        PyObject *out = PyBytes_FromStringAndSize(NULL, n);
        for (Py_ssize_t k = 0; out && k < n; k++)
            PyBytes_AS_STRING(out)[k] = self->data[start + k * step];
        return out;
    }
    PyErr_Format(PyExc_TypeError, "payload indices must be integers or slices, not %.200s",
                 Py_TYPE(key)->tp_name);
    return NULL;
}

static PyObject *payload_tobytes(PayloadObject *self, PyObject *unused)
{
    return payload_live(self) ? PyBytes_FromStringAndSize(self->data, self->len) : NULL;
}

static PyObject *payload_richcompare(PayloadObject *self, PyObject *other, int op)
{
    if ((op != Py_EQ && op != Py_NE) || !PyObject_CheckBuffer(other))
        Py_RETURN_NOTIMPLEMENTED;
    if (!payload_live(self))
        return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(other, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    int equal = view.len == self->len && memcmp(view.buf, self->data, (size_t)self->len) == 0;
    PyBuffer_Release(&view);
    return PyBool_FromLong(op == Py_EQ ? equal : !equal);
}

static PyObject *payload_repr(PayloadObject *self)
{
    return PyUnicode_FromFormat("<rxtune payload of %zd bytes%s>", self->len,
                                self->owner && self->owner->rx &&
                                        self->generation == self->owner->generation
                                    ? ""
                                    : ", released");
}

static int payload_traverse(PayloadObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->owner);
    return 0;
}

static int payload_clear(PayloadObject *self)
{
    Py_CLEAR(self->owner);
    return 0;
}

static void payload_dealloc(PayloadObject *self)
{
    PyObject_GC_UnTrack(self);
    payload_clear(self);
    PyObject_GC_Del(self);
}

static PyBufferProcs payload_buffer = {
    .bf_getbuffer = (getbufferproc)payload_getbuffer,
    .bf_releasebuffer = (releasebufferproc)payload_releasebuffer,
};

static PySequenceMethods payload_sequence = {.sq_length = (lenfunc)payload_len};
static PyMappingMethods payload_mapping = {.mp_length = (lenfunc)payload_len,
                                           .mp_subscript = (binaryfunc)payload_subscript};

static PyMethodDef payload_methods[] = {
    {"tobytes", (PyCFunction)payload_tobytes, METH_NOARGS, "tobytes() -> a copy of the payload"},
    {"__bytes__", (PyCFunction)payload_tobytes, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject PayloadType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "rxtune.engine._engine.Payload",
    .tp_basicsize = sizeof(PayloadObject),
    .tp_dealloc = (destructor)payload_dealloc,
    .tp_repr = (reprfunc)payload_repr,
    .tp_as_sequence = &payload_sequence,
    .tp_as_mapping = &payload_mapping,
    .tp_as_buffer = &payload_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A packet's payload, read in place (read-only, bytes-like: p[i], p[a:b] copies,\n"
              "bytes(p), memoryview(p), np.frombuffer(p)); raises once its batch is released.",
    .tp_traverse = (traverseproc)payload_traverse,
    .tp_clear = (inquiry)payload_clear,
    .tp_richcompare = (richcmpfunc)payload_richcompare,
    .tp_methods = payload_methods,
};

/* Batch */

static int live(BatchObject *self)
{
    RxObject *rx = self->owner;
    if (!rx->rx || rx->generation != self->generation) {
        PyErr_SetString(PyExc_ValueError,
                        "the batch was released (by release(), the next recv or close): its "
                        "buffers belong to the ring again");
        return 0;
    }
    return 1;
}

static Py_ssize_t batch_len(BatchObject *self) { return (Py_ssize_t)self->count; }

static PyObject *batch_item(BatchObject *self, Py_ssize_t i)
{
    if (i < 0 || i >= (Py_ssize_t)self->count) {
        PyErr_SetString(PyExc_IndexError, "batch index out of range");
        return NULL;
    }
    if (!live(self))
        return NULL;
    RxObject *rx = self->owner;
    PayloadObject *p = rx->payloads[i];
    /* a slot's view is reused unless someone still holds it from an older batch: that one
     * stays as it is, released for good, and the slot gets a new view */
    if (!p || (p->generation != rx->generation && Py_REFCNT(p) > 1)) {
        p = PyObject_GC_New(PayloadObject, &PayloadType);
        if (!p)
            return NULL;
        Py_INCREF(rx);
        p->owner = rx;
        p->exports = 0;
        p->generation = 0; /* none: the receiver's start at 1 */
        PyObject_GC_Track(p);
        Py_XSETREF(rx->payloads[i], p);
    }
    if (p->generation != rx->generation) {
        const struct rxt_packet *packet = &rx->rx->pkts[i];
        p->data = packet->data;
        p->len = packet->len;
        p->generation = rx->generation;
    }
    Py_INCREF(p);
    return (PyObject *)p;
}

static PyObject *batch_release(BatchObject *self, PyObject *unused)
{
    RxObject *rx = self->owner;
    if (rx->rx && rx->generation == self->generation && self->count) {
        if (rx->busy) {
            PyErr_SetString(PyExc_RuntimeError, "another thread is receiving on this receiver");
            return NULL;
        }
        if (release_batch(rx) < 0)
            return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *batch_enter(PyObject *self, PyObject *unused)
{
    Py_INCREF(self);
    return self;
}

static PyObject *batch_exit(BatchObject *self, PyObject *args)
{
    return batch_release(self, NULL);
}

/* A read-only numpy array over a copy of one field of every packet (4 or 8 bytes each) */
static PyObject *field_array(BatchObject *self, int which)
{
    if (!live(self))
        return NULL;
    if (!frombuffer) {
        PyObject *numpy = PyImport_ImportModule("numpy");
        if (!numpy)
            return NULL;
        frombuffer = PyObject_GetAttrString(numpy, "frombuffer");
        Py_DECREF(numpy);
        if (!frombuffer)
            return NULL;
    }
    const struct rxt_packet *pkts = self->owner->rx->pkts;
    size_t item = which ? sizeof(int64_t) : sizeof(uint32_t);
    PyObject *bytes = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(self->count * item));
    if (!bytes)
        return NULL;
    char *out = PyBytes_AS_STRING(bytes);
    for (unsigned i = 0; i < self->count; i++) {
        if (which)
            memcpy(out + i * item, &pkts[i].stamp_real, item);
        else
            memcpy(out + i * item, &pkts[i].len, item);
    }
    PyObject *array = PyObject_CallFunction(frombuffer, "Os", bytes, which ? "int64" : "uint32");
    Py_DECREF(bytes);
    return array;
}

static PyObject *batch_lengths(BatchObject *self, void *unused) { return field_array(self, 0); }
static PyObject *batch_stamps(BatchObject *self, void *unused) { return field_array(self, 1); }

static PyObject *batch_sources(BatchObject *self, void *unused)
{
    if (!live(self))
        return NULL;
    PyObject *list = PyList_New(self->count);
    const struct rxt_packet *pkts = self->owner->rx->pkts;
    for (unsigned i = 0; list && i < self->count; i++) {
        PyObject *item;
        if (!pkts[i].src_ip) {
            item = Py_None;
            Py_INCREF(item);
        } else {
            char text[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &pkts[i].src_ip, text, sizeof(text));
            item = Py_BuildValue("(si)", text, (int)pkts[i].src_port);
        }
        if (!item) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, i, item);
    }
    return list;
}

/* Iteration ends without an IndexError: raising one per batch costs more than a packet */
typedef struct {
    PyObject_HEAD
    BatchObject *batch;
    unsigned next;
} BatchIterObject;

static PyTypeObject BatchIterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "rxtune.engine._engine.BatchIterator",
    .tp_basicsize = sizeof(BatchIterObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
};

static PyObject *batch_iter(BatchObject *self)
{
    BatchIterObject *it = PyObject_New(BatchIterObject, &BatchIterType);
    if (!it)
        return NULL;
    Py_INCREF(self);
    it->batch = self;
    it->next = 0;
    return (PyObject *)it;
}

static PyObject *batch_iter_next(BatchIterObject *it)
{
    if (it->next >= it->batch->count)
        return NULL;
    return batch_item(it->batch, it->next++);
}

static void batch_iter_dealloc(BatchIterObject *it)
{
    Py_DECREF(it->batch);
    PyObject_Free(it);
}

int rxt_batch_iter_ready(void)
{
    if (PyType_Ready(&PayloadType) < 0)
        return -1;
    BatchIterType.tp_iter = PyObject_SelfIter;
    BatchIterType.tp_iternext = (iternextfunc)batch_iter_next;
    BatchIterType.tp_dealloc = (destructor)batch_iter_dealloc;
    return PyType_Ready(&BatchIterType);
}

static void batch_dealloc(BatchObject *self)
{
    Py_DECREF(self->owner);
    PyObject_Free(self);
}

static PySequenceMethods batch_sequence = {
    .sq_length = (lenfunc)batch_len,
    .sq_item = (ssizeargfunc)batch_item,
};

static PyMethodDef batch_methods[] = {
    {"release", (PyCFunction)batch_release, METH_NOARGS,
     "release(): the payload views raise from now on and the buffers go back to the ring"},
    {"__enter__", (PyCFunction)batch_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)batch_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef batch_getset[] = {
    {"lengths", (getter)batch_lengths, NULL, "payload lengths: a numpy uint32 array", NULL},
    {"timestamps", (getter)batch_stamps, NULL,
     "the kernel's RX stamps in ns, CLOCK_REALTIME (-1: the strategy has none): numpy int64",
     NULL},
    {"sources", (getter)batch_sources, NULL,
     "(address, port) of each packet's sender, None where the strategy does not say", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject rxt_BatchType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "rxtune.engine._engine.Batch",
    .tp_basicsize = sizeof(BatchObject),
    .tp_dealloc = (destructor)batch_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The packets of one recv_batch: payloads as read-only views in place, in the\n"
              "receiver's buffers or ring, valid until the batch is released.",
    .tp_as_sequence = &batch_sequence,
    .tp_iter = (getiterfunc)batch_iter,
    .tp_methods = batch_methods,
    .tp_getset = batch_getset,
};

PyMethodDef rxt_rx_methods[] = {
    {"rx_socket", open_socket, METH_VARARGS,
     "rx_socket(fd, epfd, wait, capacity, buffer_size) -> Rx\n"
     "A UDP socket set up for a strategy: recvmsg for batches of one, recvmmsg for more."},
    {"rx_uring", open_uring, METH_VARARGS,
     "rx_uring(fd, capacity, entries, buffers, buffer_size, napi_busy_poll_us, prefer,\n"
     "         wait_nr, min_wait_us, setup_flags) -> Rx: multishot recv, provided buffers"},
    {"rx_tpacket", open_tpacket, METH_VARARGS,
     "rx_tpacket(fd, capacity, block_size, block_count, timeout_ms, port) -> Rx\n"
     "A TPACKET_V3 ring on a bound AF_PACKET socket; UDP to port only."},
    {"rx_xdp", open_xdp, METH_VARARGS,
     "rx_xdp(ifindex, queue, xskmap_fd, frames, capacity, poll_mode, port) -> Rx\n"
     "An AF_XDP socket (copy mode, need-wakeup) entered in the map; UDP to port only."},
    {"xdp_link", xdp_link, METH_VARARGS,
     "xdp_link(prog_fd, ifindex, flags) -> link fd: the program stays attached while it is open"},
    {NULL, NULL, 0, NULL},
};
