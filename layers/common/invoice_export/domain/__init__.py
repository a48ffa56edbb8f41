"""Domain rules: the document contract, money, records and their states, planning. Imports nothing else of the layer."""
