"""A differential fuzzer for zygopy's gradients.

generate.py         seeded random programs in zygopy's subset (source text, with their constructs)
generate_arrays.py  the array programs among them: reads, overwriting writes, scatter-adds, NumPy
check.py            gradients by four zygopy paths against central finite differences
peer.py             a second opinion: autograd's gradient of the same program, where it runs it
shrink.py           greedy AST delta reduction of a failing program, written as a regression test
runner.py           worker processes with a watchdog, aggregation, shrinking the failures found
report.py           the text report and the benchmarks/RESULTS.md section

The command line is tools/fuzz_gradients.py.
"""
