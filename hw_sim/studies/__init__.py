"""Studies over many runs: populations and their statistics, the accuracy test, and the plots of both."""
