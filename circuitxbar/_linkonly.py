"""The Numba compile pipelines of the kernels (issue 5, compile time): link-only kernels, and
LLVM's loop unrolling switched off for every kernel.

Numba turns every function it compiles into machine code: it optimises the function's module,
adds it to the JIT engine and emits code for it. A kernel called from another kernel is then
linked, as LLVM IR, into the caller's module, and optimised and emitted again there: the code
that runs is always the caller's copy. For an ``INNER`` kernel (never called from Python) the
first round is wasted work, about 4-5 s of the whole solver's 24 s first-call compile.

``LinkOnlyCompiler`` lowers such a kernel to LLVM IR, runs Numba's function-level passes on it
(as for any function) and stops: its library is never optimised as a module, never added to the
engine and never emitted. Callers link that IR and optimise it with their own code, exactly as
before. The solver's outputs on the benchmarks are bitwise the same as with ordinary libraries
(the callers' machine code differs only in what LLVM chose to inline).

A link-only kernel has no entry point (its function pointer is null, as for any kernel compiled
without the CPython wrapper), cannot be cached (there is no object code to save: ``INNER``
kernels are not cached; their callers are, with the inner code inside) and cannot be inspected
with ``inspect_asm``; tests run its ``python_twin``.

Nor does it have a Numba environment: nothing sets the environment pointer that Numba reads
for ``print`` and for an exception with run-time arguments (only ``get_executable`` does, for
libraries added to the engine). Measured: ``print`` in a link-only kernel fails with "missing
Environment" and hangs the process when the caller is nogil; ``raise ValueError("bad", x)``
comes out as a RuntimeError ("Error creating Python tuple from runtime exception arguments").
The kernels use neither (a constant-argument raise is fine); to debug one with ``print``, set
``CIRCUITXBAR_LINK_ONLY=0``.

**No loop unrolling.** Every kernel (``TunedCompiler`` for those Python calls, the link-only
ones too) is optimised at Numba's level with LLVM's loop unrolling off. Unrolling multiplied the
code LLVM optimises and emits (vectorised loops unrolled again, each with its remainder loops)
for no speed: measured on the whole solver's first-call compile, 23.5 -> 21.4 s (medians of 3,
alternating), with the benchmarks' speed unchanged or better (bench/README.md). The one loop
whose vectorisation needed it (the Taylor series of ``devices.kernels._horner_expm1``, a loop
inside the per-cell loop) is written out term by term. ``CIRCUITXBAR_LOOP_UNROLL=1`` restores
Numba's default; kernels cached under the other setting are recompiled (``_config``).

This subclasses two private hooks of Numba's ``JITCodeLibrary``. ``SUPPORTED`` is False where a
Numba release lacks them, or where ``CIRCUITXBAR_LINK_ONLY=0`` is set (the escape hatch should
a Numba release change what they do), and ``INNER`` kernels then compile the ordinary way.
"""

import contextlib

from numba.core import codegen, compiler, typed_passes, untyped_passes
from numba.core.compiler_machinery import FunctionPass, LoweringPass, register_pass
from numba.core.rewrites import static_getitem

from circuitxbar._env import switch

#: set by CIRCUITXBAR_LINK_ONLY=0 (_env): INNER kernels compile the ordinary way
SWITCHED_OFF = not switch("CIRCUITXBAR_LINK_ONLY")

try:
    from numba import _dynfunc

    _HOOKS = ("_optimize_final_module", "_finalize_final_module", "_finalize_dynamic_globals",
              "_verify_declare_only_symbols")
    SUPPORTED = all(hasattr(codegen.JITCodeLibrary, h) for h in _HOOKS) and hasattr(
        compiler, "_LowerResult") and hasattr(_dynfunc, "make_function")
    SUPPORTED = SUPPORTED and not SWITCHED_OFF
except ImportError:  # pragma: no cover - a Numba without these internals
    SUPPORTED = False


#: set by CIRCUITXBAR_LOOP_UNROLL=1 (_env): Numba's default LLVM pipeline, unrolling on
LOOP_UNROLL = switch("CIRCUITXBAR_LOOP_UNROLL")

try:
    import llvmlite.binding as _llvm

    # Numba's new-pass-manager pipelines (0.61 and later) build every pass builder through
    # codegen.create_pass_builder; earlier releases cannot be tuned this way
    TUNED = (hasattr(codegen, "create_pass_builder")
             and hasattr(_llvm, "create_pipeline_tuning_options") and not LOOP_UNROLL)
except ImportError:  # pragma: no cover
    TUNED = False


_NUMBA_PASS_BUILDER = getattr(codegen, "create_pass_builder", None)


def _pass_builder_without_unrolling(tm, opt=2, loop_vectorize=False, slp_vectorize=False,
                                    **other):
    """numba.core.llvm_bindings.create_pass_builder with loop unrolling off (Numba's own,
    untuned, should a later release pass options this does not know)."""
    if other:
        return _NUMBA_PASS_BUILDER(tm, opt=opt, loop_vectorize=loop_vectorize,
                                   slp_vectorize=slp_vectorize, **other)
    pto = _llvm.create_pipeline_tuning_options()
    pto.speed_level = opt
    pto.slp_vectorization = slp_vectorize
    pto.loop_vectorization = loop_vectorize
    pto.loop_unrolling = False
    return _llvm.create_pass_builder(tm, pto)


@contextlib.contextmanager
def _without_unrolling():
    """Numba's pass builders without loop unrolling, for one library's optimisation. Numba
    optimises under its global compiler lock, so no other compilation sees the swap."""
    if not TUNED:
        yield
        return
    default = codegen.create_pass_builder
    codegen.create_pass_builder = _pass_builder_without_unrolling
    try:
        yield
    finally:
        codegen.create_pass_builder = default


class TunedLibrary(codegen.JITCodeLibrary):
    """A code library optimised without loop unrolling (see the module docstring)."""

    def _optimize_functions(self, ll_module):
        with _without_unrolling():
            super()._optimize_functions(ll_module)

    def _optimize_final_module(self):
        with _without_unrolling():
            super()._optimize_final_module()


@register_pass(mutates_CFG=False, analysis_only=False)
class ConstGetitems(FunctionPass):
    """Numba's RewriteConstGetitems alone: ``x[k]`` with a constant k becomes a static getitem.
    The kernels compile without IR rewrites (``_config.JIT``), and without this one a literal
    index into a tuple (``a.shape[0]``, ``half[2]``) was typed through an overload that Numba
    compiled once per tuple type and index: 20 compiles, 0.43 s of the whole solver's first
    call. All six of Numba's before-inference rewrites cost 0.21 s; this one alone 0.04 s."""

    _name = "circuitxbar_const_getitems"

    def __init__(self):
        FunctionPass.__init__(self)

    def run_pass(self, state):
        rewrite = static_getitem.RewriteConstGetitems(state)
        changed = False
        blocks = state.func_ir.blocks
        for key, block in list(blocks.items()):
            # one application rewrites every constant getitem of the block
            if rewrite.match(state.func_ir, block, state.typemap, state.calltypes):
                blocks[key] = rewrite.apply()
                changed = True
        return changed


def _nopython_pipeline(state):
    """Numba's nopython pipeline; with ``no_rewrites`` (every kernel's flag, _config.JIT) the
    constant-getitem rewrite still runs (``ConstGetitems``)."""
    pm = compiler.DefaultPassBuilder.define_nopython_pipeline(state)
    if state.flags.no_rewrites:
        pm.add_pass_after(ConstGetitems, untyped_passes.InlineClosureLikes)
    return pm


class TunedCompiler(compiler.CompilerBase):
    """Numba's nopython pipeline into a ``TunedLibrary``: the kernels that Python calls."""

    def define_pipelines(self):
        state = self.state
        if state.library is None:  # (a library handed in by Numba's caller is kept as it is)
            state.library = TunedLibrary(state.targetctx.codegen(), state.func_id.func_qualname)
            # as Numba's lowering does for the library it creates: kernels are cached on disk
            state.library.enable_object_caching()
        pm = _nopython_pipeline(state)
        pm.finalize()
        return [pm]


class LinkOnlyLibrary(TunedLibrary):
    """A code library whose IR is only ever linked into callers' libraries."""

    def _optimize_final_module(self):
        pass  # every caller optimises the module it links this one into

    def _finalize_final_module(self):
        # what Numba's finalisation checks, without adding the module to the JIT engine (which
        # is what emits machine code for it)
        self._finalize_dynamic_globals()
        self._verify_declare_only_symbols()
        self._finalized = True


@register_pass(mutates_CFG=False, analysis_only=False)
class RegisterLinkOnly(LoweringPass):
    """After lowering with ``no_compile``: register the kernel for its callers, as Numba's
    lowering does for a compiled one, with a null entry point in place of machine code."""

    _name = "circuitxbar_register_link_only"

    def __init__(self):
        LoweringPass.__init__(self)

    def run_pass(self, state):
        lowered, library = state.cr, state.library
        fndesc = lowered.fndesc
        entry = _dynfunc.make_function(
            fndesc.lookup_module(), fndesc.qualname.split(".")[-1],
            "link-only kernel %r (called from other kernels only)" % fndesc.qualname,
            0, lowered.env, (library,))
        state.targetctx.insert_user_function(entry, fndesc, [library])
        # (as Numba's lowering does from 0.60 on; 0.59's libraries have no reload list)
        state.reload_init.extend(getattr(library, "_reload_init", ()))
        state.cr = compiler._LowerResult(fndesc, lowered.call_helper, cfunc=entry,
                                         env=lowered.env)
        return True


class LinkOnlyCompiler(compiler.CompilerBase):
    """Numba's nopython pipeline, ending at LLVM IR for the library's callers to link."""

    def define_pipelines(self):
        state = self.state
        state.flags = state.flags.copy()
        state.flags.no_compile = True  # lowering stops before Numba asks for machine code
        state.library = LinkOnlyLibrary(state.targetctx.codegen(), state.func_id.func_qualname)
        pm = _nopython_pipeline(state)
        pm.add_pass_after(RegisterLinkOnly, typed_passes.NativeLowering)
        pm.finalize()
        return [pm]
