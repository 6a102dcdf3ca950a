"""sinkledger registry domain: pure Python, no chain, web or database code."""
