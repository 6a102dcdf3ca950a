"""The disclosure platform: listings, offers and deals settled by a bank custodian, deposits, the
blacklist and compensation, bundles, subscription campaigns and public price statistics.

Every function takes the services and an actor and raises coded errors (node.errors); none knows HTTP."""
