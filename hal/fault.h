/* fault.h - fault injection sites (internal; armed through xhal_testing.h). */
#ifndef HAL_FAULT_H
#define HAL_FAULT_H
/* 1 if this site must fail now. Cheap when disarmed (one relaxed atomic load). */
int hal_fault_hit(const char *site);
#endif
