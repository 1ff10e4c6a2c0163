"""Start the web chat: `python app.py [--host H] [--port P] [--share] [--corpus DIR] [--index DIR]`."""

import sys

from qa.serving.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
