import sys

from llmenv.cli import main

sys.exit(main())
