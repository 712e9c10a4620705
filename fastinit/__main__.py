"""Command line (also ``python -m fastinit``):

``fastinit bench [--quick] [--json FILE]``: measure fastinit beside memset, NumPy and PyTorch.
``fastinit init-checkpoint CONFIG OUT``: write a random-init .safetensors checkpoint from a spec.
``fastinit explain [--activation A] [--train] [--plot F] [--html F]``: why initialization matters.
"""
import argparse
import sys


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="fastinit", description="fastinit command line")
    parser.add_argument("command", choices=["bench", "init-checkpoint", "explain"],
                        help="bench: measure fastinit beside memset, NumPy and PyTorch; "
                             "init-checkpoint CONFIG OUT: write a random-init .safetensors file from a spec; "
                             "explain: the depth profiles of each init scheme and the one to use")
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    ns, rest = parser.parse_known_args(argv[:1])
    if ns.command == "bench":
        from . import bench
        return bench.main(argv[1:])
    if ns.command == "explain":
        from . import explain
        return explain.main(argv[1:])
    if ns.command == "init-checkpoint":
        from ._files import init_checkpoint_main
        return init_checkpoint_main(argv[1:])
    return 2


if __name__ == "__main__":
    sys.exit(main())
