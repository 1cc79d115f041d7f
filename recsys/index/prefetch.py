"""A hint to the CPU, for compiled kernels (numba): start loading memory that will be read soon.

Exact scoring reads rows scattered over the whole weight matrix, so at a million articles most of
its time waits on main memory. ``fetch_row`` asks for the next rows while the current ones are
summed (as faiss and hnswlib do for the vectors they are about to compare). A prefetch changes no
value and cannot fault: it only moves loads earlier.
"""

from __future__ import annotations

from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

LINE_BYTES = 64  # a cache line on x86-64 and most ARM cores
ROW_LINES = 32  # cache lines of each of a row's arrays asked for ahead (a longer row streams by itself)


@intrinsic
def prefetch(typingctx, array, index):
    """Ask for the cache line holding ``array[index]`` (llvm.prefetch: a read, kept in every cache level)."""
    if not isinstance(array, types.Array) or not isinstance(index, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        held = context.make_array(signature.args[0])(context, builder, args[0])
        address = builder.bitcast(builder.gep(held.data, [args[1]]), ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        # named for the pointer type by llvmlite (llvm.prefetch.p0i8; LLVM 15 and later read it as .p0)
        hint = builder.module.declare_intrinsic("llvm.prefetch", [address.type],
                                                ir.FunctionType(ir.VoidType(), [address.type, i32, i32, i32]))
        builder.call(hint, [address, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.void(array, index), codegen


@njit(cache=True, nogil=True)
def fetch_span(array, start, end):
    """Ask for the cache lines of array[start:end], at most ROW_LINES of them."""
    step = max(1, LINE_BYTES // array.itemsize)
    end = min(end, start + ROW_LINES * step)
    for at in range(start, end, step):
        prefetch(array, at)
    if end > start:
        prefetch(array, end - 1)  # the last line, when ``start`` is not at a line's start


@njit(cache=True, nogil=True)
def fetch_row(indptr, low, high_ptr, data, row):
    """Ask for a row's term ids (their lower 16 bits; see index.rows) and weights (see fetch_span),
    and for where its upper bits start."""
    start, end = indptr[row], indptr[row + 1]
    fetch_span(low, start, end)
    fetch_span(data, start, end)
    prefetch(high_ptr, row + 1)


@njit(cache=True, nogil=True)
def fetch_vector(matrix, row):
    """Ask for one row of a C-ordered 2-d array (an embedding; see fetch_span)."""
    fetch_span(matrix[row], 0, matrix.shape[1])
