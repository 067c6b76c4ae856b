"""`python -m zygopy.demo`: a tour of what zygopy does with a small loop."""
import math

import zygopy


def power(x, n):
    r = 1.0
    while n > 0:
        r = r * x
        n -= 1
    return r


def wavy(x, n):
    s = 0.0
    y = x
    for i in range(n):
        y = math.sin(y * 1.1 + 0.3)
        if y > 0.5:
            s += y * y
        else:
            s += 0.5 * y
    return s


def main():
    print("IR of power(x, n), specialised to (float, int):\n")
    print(zygopy.code_ir(power, 2.0, 3))
    print("\nIR of wavy(x, n):\n")
    print(zygopy.code_ir(wavy, 0.7, 100))
    print("\nThe reference evaluator runs IR on Python values: power(2.0, 10) =",
          zygopy.evaluate(zygopy.code_ir(power, 2.0, 10), 2.0, 10))


if __name__ == "__main__":
    main()
