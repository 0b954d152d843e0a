from medlethe.cli import main

raise SystemExit(main())
