"""A differential fuzzer for zygopy's gradients.

generate.py  seeded random programs in zygopy's subset (source text, with the constructs they use)
generate_arrays.py  the array programs among them: reads, overwriting writes, scatter-adds, NumPy calls
check.py     gradients by four zygopy paths against central finite differences of the plain function
peer.py      a second opinion: autograd's gradient of the same program, where it can run it
shrink.py    greedy AST delta reduction of a failing program, written out as a regression test
runner.py    worker processes with a watchdog, aggregation, shrinking the failures found
report.py    the text report and the benchmarks/RESULTS.md section

The command line is tools/fuzz_gradients.py.
"""
