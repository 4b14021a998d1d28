"""The virtual pump's hardware and its tools: hardware models, board, profiles, bench, link, scenarios, studies, vpump."""
