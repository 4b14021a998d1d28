"""The virtual board: clock, scheduler, reservoir, motor, battery, NVM file, links, vpump."""
