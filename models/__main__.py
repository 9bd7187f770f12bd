"""``python -m opcast.models {validate,trace} ...``"""

import sys

from .cli import main

sys.exit(main())
