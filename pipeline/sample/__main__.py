"""``python -m pipeline.sample DIR``: build the demo dock drop."""

from pipeline.sample.drop import main

raise SystemExit(main())
