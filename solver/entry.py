"""The `payerkb` command's entry point: the process takes its allocator first (solver/allocator.py: mimalloc
where installed, by starting itself again once), then runs the command line (solver/cli.py)."""


def main() -> None:
    from solver.allocator import restart_with_mimalloc
    restart_with_mimalloc()  # returns only when this process stays as it is
    from solver.cli import main as run
    run()
