#ifdef __cplusplus
extern "C" {
#endif
void vigil_cv_set_num_threads(int n);
int vigil_cv_get_num_threads(void);
#ifdef __cplusplus
}
#endif
