"""Command line: ``fastinit bench [--quick] [--json FILE]`` (also ``python -m fastinit``)."""
import argparse
import sys


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="fastinit", description="fastinit command line")
    parser.add_argument("command", choices=["bench"], help="bench: measure fastinit beside memset, NumPy and PyTorch")
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    ns, rest = parser.parse_known_args(argv[:1])
    if ns.command == "bench":
        from . import bench
        return bench.main(argv[1:])
    return 2


if __name__ == "__main__":
    sys.exit(main())
