import sys

from tests.lab.podinfo.app import main

sys.exit(main())
