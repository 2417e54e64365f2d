from llmcfg.cli.main import main

raise SystemExit(main())
