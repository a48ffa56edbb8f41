import sys

from invoice_export_cli.main import main

sys.exit(main())
