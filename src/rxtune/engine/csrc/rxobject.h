/* The receive path as Python objects: Rx (a strategy's receive path, opened) and Batch (the
 * packets of one recv_batch, zero-copy views valid until released). A live payload view
 * holds its receiver, so the ring outlives every view of it; close() releases the views it
 * handed out and so ends that hold. */
#ifndef RXTUNE_RXOBJECT_H
#define RXTUNE_RXOBJECT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

extern PyTypeObject rxt_RxType, rxt_BatchType;
extern PyMethodDef rxt_rx_methods[]; /* the openers, module level */

/* Readies the batch iterator type; 0 or -1 as PyType_Ready. */
int rxt_batch_iter_ready(void);

/* Shared with module.c: a writable int64 buffer, or -1 with TypeError. */
int rxt_int64_buffer(PyObject *obj, Py_buffer *view, const char *what);

#endif
