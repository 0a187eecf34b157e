"""`python -m flagctl` and the `flagctl` console script."""

from .app import main

if __name__ == "__main__":
    main()
