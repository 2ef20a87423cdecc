import sys

from secumail.daemon import main

sys.exit(main())
