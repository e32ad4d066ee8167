"""Kernels that other kernels call through an address (issue 5, compile time).

A kernel that calls another one links the callee's LLVM IR into its own module and optimises
and emits all of it again: the Newton chunk held its own copy of the whole linear solve (CG,
the column solves, the outputs, the chain factorisation), 55 % of its code, and LLVM spent the
same seconds on it as the linear chunk already had. A ``Shared`` kernel is compiled once, as its
own library with machine code (and cached), and every kernel that needs it calls that machine
code through its address, which Python looks up before the call and passes in as an int64:

    PCG = Shared(_pcg, PCG_TYPES)                  # next to the kernel
    call_pcg = PCG.call                            # a module global, as kernels see names
    ...
    it, rel = call_pcg(pcg_at, (g, row_c, ...))    # in a kernel
    chunk(..., addresses((PCG, ...)))              # in Python: pcg_at among the addresses

The address is a run-time argument, never a constant in the caller's code, so a caller loaded
from Numba's disk cache is as valid as a fresh one. Only calls cross the boundary, a few per
solve, so the run time is the same: LLVM kept each of these callees out of line anyway.

Interchangeable kernels: given the result type too, ``Shared(kernel, types, restype)``, a call
site compiles nothing of the kernel's, and ``call`` takes the address of any Shared kernel of
those types and result. The Newton solver calls the devices' slope that way: Python passes the
sinh kernel's address, or the generic one's, whose device library then compiles only when a
model other than sinh is solved. And a caller compiles in a process that has not compiled its
callees: the Newton chunk, in a background worker, while another process compiles the linear
solve it calls (``_newton.compile_own_kernels``).

Safety: the kernel is compiled for one fixed signature, ``types``, and ``address`` is that
overload's (with ``restype`` given, ``address`` also checks that it returns that type). Every
call site is checked against ``types`` while the caller compiles: the same types, except that
a writable array may go where the kernel was compiled to read a read-only one (the two have
the same layout in memory; the other way round the kernel could write into an array its
caller may not). Anything else fails the caller's compile with a TypingError that names the
argument: never a call with the wrong layout.
"""

from __future__ import annotations

from numba.core import cgutils, types
from numba.core.errors import TypingError
from numba.extending import intrinsic


def _fits(given, compiled):
    """Whether a value of type ``given`` can be passed as ``compiled``, bit for bit."""
    if given == compiled:
        return True
    if isinstance(given, types.Array) and isinstance(compiled, types.Array):
        return (given.dtype == compiled.dtype and given.ndim == compiled.ndim
                and given.layout == compiled.layout and given.aligned == compiled.aligned
                and (given.mutable or not compiled.mutable))
    if isinstance(given, types.BaseTuple) and isinstance(compiled, types.BaseTuple):
        # (a UniTuple is an LLVM array, any other tuple a struct: the kinds must agree too)
        return type(given) is type(compiled) and len(given) == len(compiled) and all(
            _fits(g, c) for g, c in zip(given, compiled))
    return False


def addresses(kernels):
    """The addresses of Shared kernels, as the tuple of int64 a kernel takes."""
    return tuple(k.address() for k in kernels)


class Shared:
    """``kernel`` compiled once for ``types`` (a tuple of Numba types) and called by address.

    ``address()`` (Python): compiles the kernel, or loads it from the cache, and returns its
    native entry point. ``call(address, args)`` (in a kernel; ``args`` a tuple): calls it.
    ``restype``: the kernel's result type, if the call sites are to compile without it (then
    any Shared kernel of the same types and result can be called through ``call``)."""

    def __init__(self, kernel, argtypes, restype=None):
        self.kernel = kernel
        self.types = tuple(argtypes)
        self.restype = restype
        self.name = kernel.py_func.__qualname__
        self._address = 0
        self.call = self._intrinsic()

    def compiled(self):
        """The kernel's compile result for ``types`` (compiled now if it is not yet)."""
        cres = self.kernel.overloads.get(self.types)
        if cres is None:
            self.kernel.compile(self.types)
            cres = self.kernel.overloads[self.types]
        return cres

    def address(self) -> int:
        """The native entry point of the kernel compiled for ``types``."""
        if not self._address:
            cres = self.compiled()
            returns = cres.signature.return_type
            if self.restype is not None and returns != self.restype:
                raise TypeError(f"{self.name} returns {returns}, not the declared {self.restype}")
            address = cres.library.get_pointer_to_function(cres.fndesc.llvm_func_name)
            if not address:
                raise RuntimeError(f"{self.name}: no machine code for {self.types}")
            self._address = address
        return self._address

    def _intrinsic(self):
        shared = self

        @intrinsic
        def call(typingctx, address, args):
            if address != types.int64:
                raise TypingError(f"{shared.name}'s address must be an int64, got {address}")
            if not isinstance(args, types.BaseTuple) or len(args) != len(shared.types):
                raise TypingError(f"{shared.name} takes a tuple of {len(shared.types)} "
                                  f"arguments, got {args}")
            for k, (given, compiled) in enumerate(zip(args, shared.types)):
                if not _fits(given, compiled):
                    raise TypingError(f"{shared.name}: argument {k} is {given}, but the kernel "
                                      f"is compiled for {compiled} (its Shared types)")
            argtypes = shared.types
            restype = shared.restype
            if restype is None:
                restype = shared.compiled().signature.return_type

            def codegen(context, builder, signature, llargs):
                address_v, packed = llargs
                values = [builder.extract_value(packed, k) for k in range(len(argtypes))]
                fnty = context.call_conv.get_function_type(restype, argtypes)
                fn = builder.inttoptr(address_v, fnty.as_pointer())
                status, out = context.call_conv.call_function(builder, fn, restype, argtypes,
                                                              values)
                with cgutils.if_unlikely(builder, status.is_error):
                    context.call_conv.return_status_propagate(builder, status)
                return out  # a new reference, as every call's result

            return restype(address, args), codegen

        return call
