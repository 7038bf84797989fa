#ifdef __cplusplus
extern "C" {
#endif
void vigil_peer_set_num_threads(int n);
int vigil_peer_get_num_threads(void);
#ifdef __cplusplus
}
#endif
