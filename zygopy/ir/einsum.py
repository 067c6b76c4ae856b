"""np.einsum's subscripts, read at compile time: which dimension of each operand a letter names.

`parse('ij,jk->ik', [2, 2])` gives (['ij', 'jk'], 'ik'). Without `->` (the implicit form) the
output is, as in NumPy, the letters that occur once, in alphabetical order. The lowering into
transposes, reshapes, matrix products and sums is passes/lower.py's.
"""
from __future__ import annotations

LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def parse(subscripts: str, ndims) -> tuple[list[str], str]:
    """(one letter string per operand, the output's letters); TypeError when the subscripts do
    not fit operands of these ranks."""
    spec = subscripts.replace(" ", "")
    if "." in spec:
        raise TypeError(f"einsum subscripts with '...' are not supported ({subscripts!r}); "
                        "name every dimension with a letter")
    inputs, arrow, output = spec.partition("->")
    terms = inputs.split(",")
    for letter in inputs.replace(",", "") + output:
        if letter not in LETTERS:
            raise TypeError(f"einsum subscripts {subscripts!r}: {letter!r} is not a letter")
    if len(terms) != len(ndims):
        raise TypeError(f"einsum subscripts {subscripts!r} name {len(terms)} operands, but it "
                        f"was given {len(ndims)}")
    for k, (term, ndim) in enumerate(zip(terms, ndims, strict=True)):
        if len(term) != ndim:
            raise TypeError(f"einsum subscripts {subscripts!r}: operand {k} is {ndim}-d, but "
                            f"{term!r} names {len(term)} dimensions")
    letters = "".join(terms)
    if not arrow:
        output = "".join(sorted(x for x in set(letters) if letters.count(x) == 1))
    if len(set(output)) != len(output):
        raise TypeError(f"einsum subscripts {subscripts!r}: an output letter is repeated")
    missing = [x for x in output if x not in letters]
    if missing:
        raise TypeError(f"einsum subscripts {subscripts!r}: the output letter {missing[0]!r} "
                        "names no dimension of an operand")
    return terms, output
