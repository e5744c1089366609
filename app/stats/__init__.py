"""The read side: StatsQuery and the stats service every surface calls (GoatCounter API issue)."""
