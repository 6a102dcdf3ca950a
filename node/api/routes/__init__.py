"""Routes by audience: public reads, participants' writes, the regulator's audit, HTML pages."""
